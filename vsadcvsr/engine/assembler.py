"""Frame n of the upscaled clip from window pieces, with a thread-safe cache of computed windows.

A frame's path runs one way: the adapter asks for frame n, the assembler pulls the LR frames it lacks from the
`FrameSource` the adapter hands it, the upscaler computes the windows, the assembler returns the frame. An adapter
whose frames come from a graph (VapourSynth) first calls `reserve(n)`: cached windows are then held until the
request is served, and the reservation says which LR frames the request must bring (at graph level, never by a
`get_frame` inside a callback).

Cache: a window whose frames have all been served is dropped; the others are kept, least recently used first out,
while more than `cache_windows` are cached and they take more than `cache_bytes`. Windows that are held or still
being computed are never dropped.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from torch import Tensor

from .windows import WindowGrid, split_at_cuts


class FrameSource(Protocol):
    """Where the assembler pulls LR frames from."""

    def frames(self, span: range) -> tuple[Tensor, list[bool]]:
        """Frames `span` as (T, 3, h, w) RGB in [0, 1] and, per frame, whether a scene cut precedes it."""
        ...


#: A function form of `FrameSource.frames`.
Loader = Callable[[range], tuple[Tensor, list[bool]]]


@dataclass(frozen=True)
class LoaderSource:
    """A `FrameSource` made of a loader function."""

    load: Loader

    def frames(self, span: range) -> tuple[Tensor, list[bool]]:
        return self.load(span)


@dataclass(eq=False)
class _Window:
    span: range
    pieces: list[tuple[range, Tensor]] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    holds: int = 0
    served: set[int] = field(default_factory=set)
    nbytes: int = 0


class Reservation:
    """The windows frame n's request holds (cached when it was made) and the LR frames it must bring (`needed`,
    empty when every window was cached). Released when the frame is served, or when dropped unserved."""

    def __init__(self, assembler: FrameAssembler, n: int, held: list[_Window], needed: range) -> None:
        self.n = n
        self.needed = needed
        self._assembler = assembler
        self._held: list[_Window] | None = held

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._assembler._release(held)

    def __del__(self) -> None:  # a request that never reached its callback (an error upstream)
        try:
            self.release()
        except Exception:  # interpreter shutdown
            pass


class FrameAssembler:
    """Computes windows on demand and serves frames; memory is bounded by the cache limits, not clip length.

    :param upscale:        (T, 3, h, w) RGB in [0, 1] -> (T, 3, s·h, s·w)
    :param source:         the default `FrameSource` (a stream's buffer) or loader function; graph adapters pass
                           one per request
    :param cache_windows:  windows always allowed in the cache (at least 2)
    :param cache_bytes:    more windows, with frames still to serve, are kept while they fit this
    :param first_frame:    > 0: the clip is a part of a film starting at film frame `first_frame`; frame numbers
                           are the film's, windows keep the film's grid, clipped to [first_frame, num_frames)
    """

    def __init__(
        self,
        upscale: Callable[[Tensor], Tensor],
        grid: WindowGrid,
        num_frames: int,
        source: FrameSource | Loader | None = None,
        cache_windows: int = 2,
        cache_bytes: int = 0,
        first_frame: int = 0,
    ) -> None:
        self.upscale = upscale
        self.grid = grid
        self.num_frames = num_frames
        self.source: FrameSource | None = LoaderSource(source) if callable(source) else source
        self.cache_windows = max(2, cache_windows)
        self.cache_bytes = cache_bytes
        self.first_frame = first_frame  # frames before it do not exist here (a part of a longer film)
        self.computed = 0  # windows computed so far (a measure of the cache's work)
        self._lock = threading.RLock()  # re-entrant: a Reservation may be released by the GC inside a locked block
        self._windows: OrderedDict[int, _Window] = OrderedDict()

    def span(self, k: int) -> range:
        """Frames of window k that exist in this clip."""
        span = self.grid.span(k, self.num_frames)
        return range(max(span.start, self.first_frame), span.stop)

    def reserve(self, n: int) -> Reservation:
        """Holds the cached (or computing) windows frame n needs; `needed` spans the ones that are missing."""
        self._check(n)
        held, missing = [], []
        with self._lock:
            for k in self.grid.covering(n):
                entry = self._windows.get(k)
                if entry is None:
                    missing.append(self.span(k))
                else:
                    entry.holds += 1
                    self._windows.move_to_end(k)
                    held.append(entry)
        needed = range(min(s.start for s in missing), max(s.stop for s in missing)) if missing else range(0)
        return Reservation(self, n, held, needed)

    def frame(self, n: int, source: FrameSource | None = None, reservation: Reservation | None = None) -> Tensor:
        """Upscaled frame n, (3, H, W) float32 RGB in [0, 1]; missing windows are computed from `source` (else
        the assembler's own). Releases `reservation` once the frame is made."""
        self._check(n)
        source = source if source is not None else self.source
        try:
            out = None
            for k in self.grid.covering(n):
                entry = self._window(k, source)
                piece, data = next((p, d) for p, d in entry.pieces if n in p)
                y = data[n - piece.start].float() * self.grid.weight(k, n)  # large windows are kept in fp16
                out = y if out is None else out + y
                with self._lock:
                    entry.served.add(n)
                    entry.holds -= 1
            assert out is not None
            return out
        finally:
            if reservation is not None:
                reservation.release()
            with self._lock:
                self._trim()

    def _check(self, n: int) -> None:
        if not self.first_frame <= n < self.num_frames:
            raise IndexError(f"frame {n} out of range (clip has frames {self.first_frame}..{self.num_frames - 1})")

    def _window(self, k: int, source: FrameSource | None) -> _Window:
        """The computed window k, held once more (the caller lets go); one thread computes it, others wait."""
        with self._lock:
            entry = self._windows.get(k)
            owner = entry is None
            if entry is None:
                if source is None:
                    raise RuntimeError(f"window {k} is neither cached nor given frames (a request not reserved)")
                entry = _Window(self.span(k))
                self._windows[k] = entry
            else:
                self._windows.move_to_end(k)
            entry.holds += 1
        if owner:
            assert source is not None
            self._compute(entry, source)
        entry.ready.wait()
        if entry.error is not None:
            with self._lock:
                entry.holds -= 1
                if self._windows.get(k) is entry:
                    del self._windows[k]
            raise entry.error
        return entry

    def _compute(self, entry: _Window, source: FrameSource) -> None:
        try:
            span = entry.span
            frames, cuts = source.frames(span)
            for piece in split_at_cuts(span, cuts):
                lo, hi = piece.start - span.start, piece.stop - span.start
                entry.pieces.append((piece, self.upscale(frames[lo:hi])))
            entry.nbytes = sum(d.numel() * d.element_size() for _, d in entry.pieces)
            with self._lock:
                self.computed += 1
        except BaseException as e:  # handed to every waiter
            entry.error = e
        finally:
            entry.ready.set()

    def _release(self, held: list[_Window]) -> None:
        with self._lock:
            for entry in held:
                entry.holds -= 1
            self._trim()

    def _trim(self) -> None:
        """Drops served windows, then the least recently used while over both limits (caller holds the lock)."""
        free = [k for k, e in self._windows.items() if e.holds <= 0 and e.ready.is_set()]
        for k in free:
            e = self._windows[k]
            if len(e.served) >= len(e.span):
                del self._windows[k]
        for k in free:
            if len(self._windows) <= self.cache_windows:
                break
            if sum(e.nbytes for e in self._windows.values()) <= self.cache_bytes:
                break
            self._windows.pop(k, None)
