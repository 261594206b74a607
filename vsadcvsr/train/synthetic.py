"""Tiny training material built from scikit-image photographs, for tests and smoke runs (small sizes, fast)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..degradation import bicubic_down
from ..extras import lazy
from .data import Material
from .dataset import ClipDataset

if TYPE_CHECKING:
    import skimage.data as skimage_data
else:
    skimage_data = lazy("skimage.data", "train")

LR = 16
HR = 4 * LR
T = 3


def material() -> Material:
    img = skimage_data.astronaut()
    shot = np.stack([img[100 + 3 * i: 100 + 3 * i + 80, 120:200] for i in range(6)])
    images = {"coffee": skimage_data.coffee()[:96, :96].copy(), "chelsea": skimage_data.chelsea()[:96, :96].copy(),
              "rocket": skimage_data.rocket()[:96, :96].copy()}
    return Material([shot], ["astronaut-pan"], images)


def dataset(clips: int = 4) -> ClipDataset:
    img = skimage_data.coffee()
    hr = np.stack([np.stack([img[40 * c + 2 * t: 40 * c + 2 * t + HR, 60 * c: 60 * c + HR] for t in range(T)])
                   for c in range(clips)])
    lr = np.stack([np.rint(bicubic_down(c, 4) * 255).astype(np.uint8) for c in hr])
    return ClipDataset(lr, hr, {"gt": hr}, {"clips": clips})
