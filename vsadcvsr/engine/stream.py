"""Streaming use of the window grid: frames arrive in order, upscaled frames leave in order (FFmpeg pipes)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch import Tensor

from .assembler import FrameAssembler
from .scenes import is_cut, scene_difference
from .settings import Settings
from .upscaler import Upscaler
from .windows import WindowGrid


class StreamSource:
    """The frames of a stream read so far (a `FrameSource`): reads ahead on demand, forgets frames no longer
    needed; a scene cut is measured as each frame arrives (`engine.scenes`)."""

    def __init__(self, frames: Iterable[Tensor], first_index: int, scene_threshold: float) -> None:
        self._source = iter(frames)
        self._threshold = scene_threshold
        self._buffer: dict[int, Tensor] = {}
        self._cuts: dict[int, bool] = {}
        self._prev: Tensor | None = None
        self.received = first_index  # film index of the next frame to arrive
        self.ended = False

    def pull_until(self, stop: int) -> None:
        """Reads frames until `stop` frames (film index) have arrived or the stream ends."""
        while not self.ended and self.received < stop:
            try:
                f = next(self._source)
            except StopIteration:
                self.ended = True
                break
            f = f.detach()
            prev, self._prev = self._prev, f
            self._cuts[self.received] = prev is not None and is_cut(scene_difference(prev, f), self._threshold)
            self._buffer[self.received] = f
            self.received += 1

    def forget_before(self, first_kept: int) -> None:
        for i in [i for i in self._buffer if i < first_kept]:
            del self._buffer[i]
            self._cuts.pop(i, None)

    def frames(self, span: range) -> tuple[Tensor, list[bool]]:
        return torch.stack([self._buffer[i] for i in span]), [self._cuts[i] for i in span]


def upscale_stream(
    frames: Iterable[Tensor],
    upscaler: Upscaler,
    window: int | None = None,
    overlap: int | None = None,
    scene_threshold: float | None = None,
    first_index: int = 0,
) -> Iterator[Tensor]:
    """Yields one (3, 4h, 4w) float32 RGB [0, 1] frame per (3, h, w) input frame, in order.

    Reads ahead only as far as the windows of the current frame reach, and keeps only the frames still needed,
    so memory does not grow with the clip. Output equals random access on the same grid (`FrameAssembler`).
    Frames whose luma differs from the previous frame's by more than `scene_threshold` (`engine.scenes`)
    start a new shot; 0 disables detection. `window`, `overlap`, `scene_threshold`: None takes the upscaler's
    `settings`; others are checked as `Settings` checks them.

    `first_index`: the film frame number of the first input frame, for a part of a longer film. The windows stay
    on the film's grid (clipped to the part), so a part that starts at a scene cut gives exactly the frames of a
    whole-film run; a part starting inside a shot differs in the windows that reach back across its start.
    """
    if first_index < 0:
        raise ValueError(f"first_index must not be negative, not {first_index}")
    changes = {k: v for k, v in (("window", window), ("overlap", overlap), ("scene_threshold", scene_threshold))
               if v is not None}
    base: Settings = getattr(upscaler, "settings", None) or Settings()  # any object with upscale_window will do
    settings = base.replace(**changes)
    grid = WindowGrid(settings.window, settings.overlap)
    source = StreamSource(frames, first_index, settings.scene_threshold)
    assembler = FrameAssembler(upscaler.upscale_window, grid, num_frames=1 << 62, source=source, cache_windows=2,
                               first_frame=first_index)
    n = first_index
    while True:
        last_needed = max(k * grid.step + grid.window for k in grid.covering(n))
        source.pull_until(last_needed)
        if source.ended:
            assembler.num_frames = source.received
        if n >= source.received:
            return
        yield assembler.frame(n)
        source.forget_before(min(k * grid.step for k in grid.covering(n + 1)))
        n += 1
