"""The one scene-cut measure of every adapter and the evaluation: the mean absolute difference of BT.709 luma of
the RGB frames the model sees, between consecutive frames (0..1)."""
from __future__ import annotations

import torch
from torch import Tensor

from .colour import luma


def scene_differences(frames: Tensor) -> Tensor:
    """(T, 3, h, w) RGB in [0, 1] -> (T - 1,) float32: mean |ΔY| between frame i and i + 1."""
    y = luma(frames.float(), "bt709")
    return (y[1:] - y[:-1]).abs().mean(dim=(-2, -1))


def scene_difference(prev: Tensor, cur: Tensor) -> float:
    """Mean |ΔY| in [0, 1] between two (3, h, w) RGB frames in [0, 1]."""
    return float(scene_differences(torch.stack((prev, cur)))[0])


def is_cut(difference: float, threshold: float) -> bool:
    """Whether a difference starts a new shot; a threshold of 0 disables detection."""
    return threshold > 0 and difference > threshold


def cuts_before(frames: Tensor, threshold: float) -> list[bool]:
    """For each of (T, 3, h, w) RGB frames, whether a cut precedes it (the first frame: False)."""
    if threshold <= 0 or len(frames) < 2:
        return [False] * len(frames)
    return [False] + [is_cut(float(d), threshold) for d in scene_differences(frames)]
