"""Low-resolution inputs for evaluation: the training degradation (fixed seed), plain bicubic, or given LR clips."""
from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

#: Degradations `make_lr` knows; "given" means the caller supplies real LR frames.
DEGRADATIONS = ("standard", "mild", "bicubic", "given")


def to_uint8(x: np.ndarray) -> np.ndarray:
    """float [0, 1] → uint8 with rounding (uint8 passes through)."""
    if x.dtype == np.uint8:
        return x
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def bicubic_down(hr: np.ndarray, scale: int = 4) -> np.ndarray:
    """(T, H, W, 3) uint8 → float32 [0, 1] downscaled by `scale`: antialiased bicubic (as MATLAB's imresize)."""
    x = torch.from_numpy(np.ascontiguousarray(hr)).float().div(255.0).permute(0, 3, 1, 2)
    h, w = x.shape[-2:]
    y = F.interpolate(x, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False)
    return y.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def _training_degradation() -> Callable[..., np.ndarray] | None:
    try:
        from vsadcvsr.degradation import degrade_clip
    except ImportError as e:
        log.warning("the training degradation is not available (%s); falling back to bicubic", e)
        return None
    return degrade_clip


def make_lr(hr: np.ndarray, kind: str, scale: int = 4, seed: int = 0) -> tuple[np.ndarray, str]:
    """(T, H, W, 3) uint8 HR clip → (LR uint8 clip, the degradation actually applied).

    "standard" and "mild" are the training pipeline's presets (`vsadcvsr.degradation.degrade_clip`, seed
    `seed`); if that module cannot be imported the clip is bicubic-downscaled instead and the returned name says
    so. "bicubic" is antialiased bicubic only.
    """
    if kind not in DEGRADATIONS or kind == "given":
        raise ValueError(f"make_lr: unknown degradation {kind!r}; known: standard, mild, bicubic")
    if hr.shape[1] % scale or hr.shape[2] % scale:
        raise ValueError(f"make_lr: {hr.shape[2]}x{hr.shape[1]} is not a multiple of {scale}")
    if kind in ("standard", "mild"):
        degrade = _training_degradation()
        if degrade is not None:
            return to_uint8(degrade(hr, scale=scale, seed=seed, preset=kind)), f"{kind} (seed {seed})"
        return to_uint8(bicubic_down(hr, scale)), f"bicubic (fallback: training degradation '{kind}' unavailable)"
    return to_uint8(bicubic_down(hr, scale)), "bicubic"
