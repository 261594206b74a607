"""Temporal consistency: the warping error E*warp of the DOVE / AdcVSR protocol, with OpenCV's DIS optical flow.

For each pair of consecutive frames (t, t+1) inside one shot: forward flow w_f (t → t+1) and backward flow w_b
(t+1 → t) with DIS (preset medium) on the 8-bit luma; frame t+1 is warped onto t by sampling it at x + w_f(x)
(bilinear, border pixels repeated where the match leaves the frame). A pixel is excluded (occluded) where the
forward-backward check fails, |w_f + ŵ_b|² > 0.01 (|w_f|² + |ŵ_b|²) + 0.5 with ŵ_b = w_b sampled at x + w_f(x),
or on a motion boundary, |∇w_f|² > 0.01 |w_f|² + 0.002. The pair's error is the squared difference summed over
RGB (values in [0, 1]) and averaged over the kept pixels; the clip's E*warp is the mean over pairs, x1000.
DOVE's numbers use RAFT flow: values computed here are comparable with each other, not with the paper's.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..flow import dis_flow, occlusion_mask, warp

#: The flow estimator, to be named next to every E*warp figure.
FLOW_ESTIMATOR = "DIS (OpenCV, preset medium)"


@dataclass(frozen=True)
class WarpingError:
    """E*warp of one clip: `value` (mean over pairs, x1000) and the per-pair errors (x1000)."""

    value: float
    pairs: tuple[float, ...]


def _float01(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) / 255.0 if frame.dtype == np.uint8 else frame.astype(np.float32)


def pair_error(frame_t: np.ndarray, frame_t1: np.ndarray, fw: np.ndarray, bw: np.ndarray) -> float:
    """Warping error of one pair (not scaled): frame t+1 warped onto t, mean over non-occluded pixels."""
    keep = ~occlusion_mask(fw, bw)
    n = int(keep.sum())
    if n == 0:
        return float("nan")
    diff = warp(_float01(frame_t1), fw) - _float01(frame_t)
    return float(np.sum((diff * diff).sum(axis=-1)[keep]) / n)


def warping_error(
    frames: np.ndarray | Sequence[np.ndarray],
    flow_frames: np.ndarray | Sequence[np.ndarray] | None = None,
    cuts: Sequence[int] = (),
) -> WarpingError:
    """E*warp (x1000) of RGB `frames` (T, H, W, 3), uint8 or float in [0, 1].

    The flow is estimated on `flow_frames` (same size; e.g. the reference) if given, else on `frames` itself,
    as DOVE does. Pairs (t, t+1) with t+1 in `cuts` (a shot starts there) are skipped; pairs with no
    non-occluded pixel are ignored. A clip of fewer than two frames gives NaN.
    """
    src = flow_frames if flow_frames is not None else frames
    if len(src) != len(frames):
        raise ValueError("warping_error: flow_frames and frames differ in length")
    cut_set = set(cuts)
    errs: list[float] = []
    for t in range(len(frames) - 1):
        if t + 1 in cut_set:
            continue
        fw = dis_flow(src[t], src[t + 1])
        bw = dis_flow(src[t + 1], src[t])
        e = pair_error(frames[t], frames[t + 1], fw, bw)
        if np.isfinite(e):
            errs.append(1000.0 * e)
    value = float(np.mean(errs)) if errs else float("nan")
    return WarpingError(value, tuple(errs))
