"""Scene-cut measure shared by the adapters: mean absolute luma difference between consecutive frames."""
from __future__ import annotations

from torch import Tensor

_BT709 = (0.2126, 0.7152, 0.0722)


def scene_difference(prev: Tensor, cur: Tensor) -> float:
    """Mean |ΔY| in [0, 1] between two (3, h, w) RGB frames in [0, 1] (like VapourSynth's PlaneStatsDiff on Y)."""
    def y(f: Tensor) -> Tensor:
        return f[0] * _BT709[0] + f[1] * _BT709[1] + f[2] * _BT709[2]

    return float((y(cur.float()) - y(prev.float())).abs().mean())
