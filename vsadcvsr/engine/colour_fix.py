"""AdcSR's colour correction, per window: match the output's per-channel mean and std to the LR input's."""
from __future__ import annotations

from torch import Tensor


def match_statistics(out: Tensor, ref: Tensor, eps: float = 1e-5) -> Tensor:
    """Shifts and scales each channel of `out` (T, 3, H, W) so its mean/std over the whole window equal `ref`'s.

    Statistics are taken over all frames of the window (per-frame statistics flicker).
    """
    dims = (0, 2, 3)
    o_mean, o_std = out.mean(dims, keepdim=True), out.std(dims, keepdim=True)
    r_mean, r_std = ref.mean(dims, keepdim=True), ref.std(dims, keepdim=True)
    return (out - o_mean) / (o_std + eps) * r_std + r_mean
