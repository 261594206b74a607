"""Sub-pixel grid score: how strongly a x4 output carries a regular pattern locked to the 4-px output grid.

A x4 network that ends in a sub-pixel step (PixelShuffle) can leave a periodic "screen door" on flat texture. Its
signature is power at the x4 sub-pixel harmonics: frequencies with period 4 or 2 px along either axis or both
(0, 1/4, 1/2 or 3/4 cycles per pixel on each axis, the zero frequency excluded: 15 harmonics). The score of a frame
is the mean over those harmonics of the peak power in the 3x3 bins at the harmonic (the Hann window's main lobe)
over the median power of the bins around it (a ring 3 to 8 bins away, the texture's own spectrum at that
frequency). Luma (BT.601) with its mean removed, 2D Hann window, FFT. Natural video is near 1-10; a visible grid
scores tens to hundreds. Lower is better; the reference's own score is the floor.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .fidelity import rgb_to_y

#: Smallest frame side the score is defined for: the ring around each harmonic must fit between harmonics.
MIN_SIDE = 64
_PEAK, _RING_IN, _RING_OUT = 1, 3, 8  # bins: peak half-width, ring inner and outer Chebyshev radius
_HARMONICS = tuple((fy, fx) for fy in (0, 1, 2, 3) for fx in (0, 1, 2, 3) if fy or fx)  # in quarters of a cycle


def _power(y: np.ndarray) -> np.ndarray:
    h, w = y.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    return np.abs(np.fft.fft2((y - y.mean()) * win)) ** 2


def harmonic_ratios(frame: np.ndarray) -> np.ndarray:
    """Peak-over-surround power ratio at each of the 15 x4 sub-pixel harmonics of one (H, W, 3) or (H, W) frame."""
    if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[-1] != 3):
        raise ValueError(f"grid_score: expected an (H, W, 3) RGB or (H, W) luma frame, got shape {frame.shape}")
    h, w = frame.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"grid_score: frame {w}x{h} is too small (each side must be at least {MIN_SIDE} px)")
    y = rgb_to_y(frame) if frame.ndim == 3 else np.asarray(frame, np.float64)
    p = _power(y)
    ry = np.arange(-_RING_OUT, _RING_OUT + 1)
    dy, dx = np.meshgrid(ry, ry, indexing="ij")
    cheb = np.maximum(abs(dy), abs(dx))
    peak_off = np.argwhere(cheb <= _PEAK) - _RING_OUT
    ring_off = np.argwhere((cheb >= _RING_IN) & (cheb <= _RING_OUT)) - _RING_OUT
    out = np.empty(len(_HARMONICS))
    for i, (qy, qx) in enumerate(_HARMONICS):
        cy, cx = round(qy * h / 4), round(qx * w / 4)
        peak = p[(cy + peak_off[:, 0]) % h, (cx + peak_off[:, 1]) % w].max()
        ring = np.median(p[(cy + ring_off[:, 0]) % h, (cx + ring_off[:, 1]) % w])
        out[i] = peak / max(ring, 1e-12)
    return out


def grid_score(frame: np.ndarray) -> float:
    """The sub-pixel grid score of one frame: the mean of `harmonic_ratios` (lower is better)."""
    return float(harmonic_ratios(frame).mean())


def clip_grid_score(frames: Sequence[np.ndarray] | np.ndarray) -> float:
    """The per-frame grid score averaged over a clip (T, H, W, 3)."""
    return float(np.mean([grid_score(f) for f in frames]))
