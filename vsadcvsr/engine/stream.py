"""Streaming use of the window grid: frames arrive in order, upscaled frames leave in order (FFmpeg pipes)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch import Tensor

from .assembler import FrameAssembler
from .scenes import scene_difference
from .upscaler import Upscaler
from .windows import WindowGrid


def upscale_stream(
    frames: Iterable[Tensor],
    upscaler: Upscaler,
    window: int = 16,
    overlap: int = 4,
    scene_threshold: float = 0.1,
) -> Iterator[Tensor]:
    """Yields one (3, 4h, 4w) float32 RGB [0, 1] frame per (3, h, w) input frame, in order.

    Reads ahead only as far as the windows of the current frame reach, and keeps only the frames still needed,
    so memory does not grow with the clip. Output equals random access on the same grid (`FrameAssembler`).
    Frames whose luma differs from the previous frame's by more than `scene_threshold` (mean absolute
    difference, 0..1) start a new shot; 0 disables detection.
    """
    grid = WindowGrid(window, overlap)
    source = iter(frames)
    buffer: dict[int, Tensor] = {}
    cuts: dict[int, bool] = {}
    received = 0
    ended = False
    prev: Tensor | None = None

    def pull_until(stop: int) -> None:
        nonlocal received, ended, prev
        while not ended and received < stop:
            try:
                f = next(source)
            except StopIteration:
                ended = True
                break
            f = f.detach()
            cuts[received] = bool(
                prev is not None and scene_threshold > 0 and scene_difference(prev, f) > scene_threshold
            )
            buffer[received] = f
            prev = f
            received += 1

    def load(span: range) -> tuple[Tensor, list[bool]]:
        return torch.stack([buffer[i] for i in span]), [cuts[i] for i in span]

    assembler = FrameAssembler(upscaler.upscale_window, grid, num_frames=1 << 62, load=load, cache_windows=2)
    n = 0
    while True:
        last_needed = max(k * grid.step + grid.window for k in grid.covering(n))
        pull_until(last_needed)
        if ended:
            assembler.num_frames = received
        if n >= received:
            return
        yield assembler.frame(n)
        first_kept = min(k * grid.step for k in grid.covering(n + 1))
        for i in [i for i in buffer if i < first_kept]:
            del buffer[i]
            cuts.pop(i, None)
        n += 1
