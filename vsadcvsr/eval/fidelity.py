"""Full-reference fidelity: PSNR on RGB and on luma, SSIM on luma, the conventions of the video SR literature."""
from __future__ import annotations

import numpy as np

from ..extras import require

#: PSNR of identical frames (infinite) is reported as this value so that means stay finite.
PSNR_CAP_DB = 100.0


def _as_float255(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img.astype(np.float64)
    return np.asarray(img, dtype=np.float64) * 255.0


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """(..., 3) RGB, uint8 or float in [0, 1] → BT.601 studio-range luma Y in [16, 235], float64."""
    x = _as_float255(img) / 255.0
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def _psnr(ref: np.ndarray, out: np.ndarray) -> float:
    """PSNR in dB of two arrays on a 0-255 scale (peak 255), capped at `PSNR_CAP_DB`."""
    mse = float(np.mean((ref - out) ** 2))
    if mse == 0.0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * float(np.log10(255.0**2 / mse)))


def psnr_rgb(ref: np.ndarray, out: np.ndarray) -> float:
    """PSNR in dB over all RGB samples of one frame (uint8, or float in [0, 1]); capped at `PSNR_CAP_DB`."""
    if ref.shape != out.shape:
        raise ValueError(f"psnr_rgb: shapes differ, {ref.shape} vs {out.shape}")
    return _psnr(_as_float255(ref), _as_float255(out))


def psnr_y(ref: np.ndarray, out: np.ndarray) -> float:
    """PSNR in dB of BT.601 studio-range luma (MATLAB's rgb2ycbcr, peak 255), one frame; capped at `PSNR_CAP_DB`."""
    if ref.shape != out.shape:
        raise ValueError(f"psnr_y: shapes differ, {ref.shape} vs {out.shape}")
    return _psnr(rgb_to_y(ref), rgb_to_y(out))


def ssim_y(ref: np.ndarray, out: np.ndarray) -> float:
    """SSIM of one frame on BT.601 luma (Wang et al.: 11x11 Gaussian window, sigma 1.5, data range 255)."""
    if ref.shape != out.shape:
        raise ValueError(f"ssim_y: shapes differ, {ref.shape} vs {out.shape}")
    structural_similarity = require("skimage.metrics", "eval").structural_similarity
    return float(structural_similarity(rgb_to_y(ref), rgb_to_y(out), data_range=255.0, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False))
