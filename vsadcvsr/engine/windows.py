"""Temporal windows on a fixed grid: window k covers frames [k·step, k·step + window), step = window − overlap.

Frame n's output depends only on the windows that cover it, never on which frames were asked for before, so
random access, reverse order and streaming give the same frames. Scene cuts split a window into pieces (no piece
mixes two shots); frames in an overlap are a cross-fade of the two windows that cover them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowGrid:
    window: int = 16
    overlap: int = 4

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be at least 1, not {self.window}")
        if not 0 <= self.overlap < self.window:
            raise ValueError(f"overlap must be in [0, window), not {self.overlap} (window {self.window})")
        if self.overlap > self.window // 2:
            raise ValueError(f"overlap must be at most half the window ({self.window // 2}), not {self.overlap}")

    @property
    def step(self) -> int:
        return self.window - self.overlap

    def covering(self, n: int) -> list[int]:
        """Indices of the windows that contain frame n (one, or two in an overlap)."""
        last = n // self.step
        first = max(0, math.floor((n - self.window) / self.step) + 1)
        return [k for k in range(first, last + 1) if k * self.step <= n < k * self.step + self.window]

    def span(self, k: int, num_frames: int) -> range:
        """Frames of window k, clipped to the clip."""
        start = k * self.step
        return range(start, min(start + self.window, num_frames))

    def weight(self, k: int, n: int) -> float:
        """Cross-fade weight of window k for frame n; the weights of the covering windows sum to 1."""
        ks = self.covering(n)
        if len(ks) == 1:
            return 1.0
        later = ks[-1]
        pos = n - later * self.step  # 0 .. overlap-1 inside the overlap
        w_later = (pos + 0.5) / self.overlap
        return w_later if k == later else 1.0 - w_later


def split_at_cuts(span: range, cut_before: list[bool]) -> list[range]:
    """Splits `span` into pieces at frames that start a new shot; `cut_before[i]` is for frame span[i]."""
    pieces, start = [], span.start
    for i, n in enumerate(span):
        if i > 0 and cut_before[i]:
            pieces.append(range(start, n))
            start = n
    pieces.append(range(start, span.stop))
    return pieces
