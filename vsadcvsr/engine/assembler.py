"""Frame n of the upscaled clip from window pieces, with a bounded, thread-safe cache of computed windows."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from .windows import WindowGrid, split_at_cuts

#: Loads LR frames [range) as (T, 3, h, w) RGB in [0, 1] and, for each frame, whether a scene cut precedes it.
Loader = Callable[[range], tuple[Tensor, list[bool]]]


@dataclass
class _Window:
    pieces: list[tuple[range, Tensor]]
    ready: threading.Event
    error: BaseException | None = None


class FrameAssembler:
    """Computes windows on demand and serves frames; memory is bounded by `cache_windows`, not clip length."""

    def __init__(
        self,
        upscale: Callable[[Tensor], Tensor],
        grid: WindowGrid,
        num_frames: int,
        load: Loader,
        cache_windows: int = 4,
    ) -> None:
        self.upscale = upscale
        self.grid = grid
        self.num_frames = num_frames
        self.load = load
        self.cache_windows = max(2, cache_windows)
        self._lock = threading.Lock()
        self._windows: OrderedDict[int, _Window] = OrderedDict()

    def _compute(self, k: int, entry: _Window) -> None:
        try:
            span = self.grid.span(k, self.num_frames)
            frames, cuts = self.load(span)
            for piece in split_at_cuts(span, cuts):
                lo, hi = piece.start - span.start, piece.stop - span.start
                entry.pieces.append((piece, self.upscale(frames[lo:hi])))
        except BaseException as e:  # handed to every waiter
            entry.error = e
        finally:
            entry.ready.set()

    def window(self, k: int) -> _Window:
        """The computed window k; one thread computes it, others asking for it wait."""
        with self._lock:
            entry = self._windows.get(k)
            owner = entry is None
            if owner:
                entry = _Window([], threading.Event())
                self._windows[k] = entry
                while len(self._windows) > self.cache_windows:
                    self._windows.popitem(last=False)
            else:
                self._windows.move_to_end(k)
        assert entry is not None
        if owner:
            self._compute(k, entry)
        entry.ready.wait()
        if entry.error is not None:
            with self._lock:
                if self._windows.get(k) is entry:
                    del self._windows[k]
            raise entry.error
        return entry

    def needed(self, n: int) -> range:
        """The LR frames that computing frame n may load (the spans of the windows that cover it)."""
        spans = [self.grid.span(k, self.num_frames) for k in self.grid.covering(n)]
        return range(min(s.start for s in spans), max(s.stop for s in spans))

    def is_ready(self, n: int) -> bool:
        """Whether every window frame n needs is computed and cached (a hint: it may be evicted at any time)."""
        with self._lock:
            entries = [self._windows.get(k) for k in self.grid.covering(n)]
        return all(e is not None and e.ready.is_set() and e.error is None for e in entries)

    def frame(self, n: int) -> Tensor:
        """Upscaled frame n, (3, H, W) float32 RGB in [0, 1]."""
        if not 0 <= n < self.num_frames:
            raise IndexError(f"frame {n} out of range (clip has {self.num_frames})")
        out = None
        for k in self.grid.covering(n):
            entry = self.window(k)
            piece, data = next((p, d) for p, d in entry.pieces if n in p)
            y = data[n - piece.start] * self.grid.weight(k, n)
            out = y if out is None else out + y
        assert out is not None
        return out
