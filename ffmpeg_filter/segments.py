"""Where to cut a film into segments for the cluster: at sure scene cuts near the nominal split points.

A segment that starts at a scene cut gives exactly the frames of a one-process run (the engine keeps the film's
window grid and never lets a window cross a cut), so each boundary is moved to a *sure* cut within
`min(L/4, 150)` frames of its nominal place k·L, a keyframe among them first (FFmpeg's seek then decodes
nothing it throws away). Only where a stretch holds no sure cut does the boundary stay inside a shot; there the
windows reaching across it see less context than in one run, and their frames differ slightly.

Cuts are measured like the engine does (mean |ΔY| of consecutive RGB frames, `vsadcvsr.engine.scenes`), on
frames shrunk by area averaging to at most 160 pixels wide. Averaging can only lower a mean absolute
difference, so a cut seen on the small frames is a cut at full size; `SURE` is a margin on top for the
colour conversion and rounding, which differ slightly from the bridge's.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
import torch

from vsadcvsr.engine.scenes import scene_difference

from .errors import BridgeError
from .probe import SourceInfo, file_url

#: a cut counts as sure when its difference is at least SURE times the engine's threshold
SURE = 1.5
#: width of the frames the planner measures on
SCAN_WIDTH = 160


@dataclass(frozen=True)
class Span:
    """Segment `index`: source frames [first, stop); `at_cut` when a scene cut starts it (or it starts the film)."""

    index: int
    first: int
    stop: int
    at_cut: bool

    @property
    def frames(self) -> int:
        return self.stop - self.first

    def to_json(self) -> dict:
        return asdict(self)


def search_radius(segment_frames: int) -> int:
    """How far a boundary may move from its nominal place."""
    return max(0, min(segment_frames // 4, 150))


def _packets(path: Path) -> tuple[list[int], set[int]]:
    """Video pts in presentation order and the indices of the keyframes."""
    with av.open(file_url(path)) as c:
        v = c.streams.video[0]
        pts, keys = [], []
        for pkt in c.demux(v):
            if pkt.pts is None or not pkt.size or pkt.is_discard:
                continue
            pts.append(pkt.pts)
            if pkt.is_keyframe:
                keys.append(pkt.pts)
    pts.sort()
    index = {p: i for i, p in enumerate(pts)}
    return pts, {index[k] for k in keys if k in index}


def _small(frame: av.VideoFrame, width: int, height: int) -> torch.Tensor:
    arr = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float().div_(255)


def _frames_in(path: Path, pts: list[int], ranges: list[range], indexed: bool) -> Iterator[tuple[int, torch.Tensor]]:
    """(frame index, small RGB frame) for every frame in `ranges` (sorted, disjoint), seeking where possible."""
    with av.open(file_url(path)) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        w = min(SCAN_WIDTH, v.codec_context.width)
        h = max(1, round(v.codec_context.height * w / v.codec_context.width))
        if not indexed:  # no keyframe index (MPEG-TS, raw streams): one pass from the start
            for i, frame in enumerate(c.decode(v)):
                if any(i in r for r in ranges):
                    yield i, _small(frame, w, h)
                if i >= ranges[-1].stop:
                    return
            return
        for r in ranges:
            c.seek(pts[r.start], stream=v, backward=True, any_frame=False)
            for frame in c.decode(v):
                if frame.pts is None:
                    continue
                i = bisect.bisect_left(pts, frame.pts)
                if i >= r.stop:
                    break
                if i >= r.start and i < len(pts) and pts[i] == frame.pts:
                    yield i, _small(frame, w, h)


def find_cuts(info: SourceInfo, ranges: list[range], threshold: float) -> tuple[dict[int, float], set[int]]:
    """({frame: difference to the frame before} for the frames in `ranges` after their first, keyframe indices)."""
    pts, keys = _packets(info.path)
    if len(pts) != info.frames:
        raise BridgeError(f"{info.path}: {len(pts)} video packets but {info.frames} frames probed")
    diffs: dict[int, float] = {}
    if threshold <= 0 or not ranges:
        return diffs, keys
    prev: tuple[int, torch.Tensor] | None = None
    for i, f in _frames_in(info.path, pts, ranges, info.indexed):
        if prev is not None and prev[0] == i - 1:
            diffs[i] = scene_difference(prev[1], f)
        prev = (i, f)
    return diffs, keys


def plan_segments(info: SourceInfo, segment_frames: int, scene_threshold: float) -> list[Span]:
    """Segments of about `segment_frames` frames covering the whole video, cut at sure scene cuts where possible."""
    if segment_frames < 1:
        raise BridgeError(f"segment frames must be at least 1, not {segment_frames}")
    n = info.frames
    nominal = list(range(segment_frames, n, segment_frames))
    r = search_radius(segment_frames)
    ranges: list[range] = []
    for b in nominal:  # frames b-r-1 .. b+r: the differences of b-r .. b+r
        lo, hi = max(0, b - r - 1), min(n, b + r + 1)
        if ranges and lo <= ranges[-1].stop:
            ranges[-1] = range(ranges[-1].start, hi)
        else:
            ranges.append(range(lo, hi))
    diffs, keys = find_cuts(info, ranges, scene_threshold)
    sure = SURE * scene_threshold
    bounds: list[tuple[int, bool]] = [(0, True)]
    for b in nominal:
        after = bounds[-1][0]
        window = [i for i in range(max(after + 1, b - r), min(n, b + r + 1))]
        cuts = [i for i in window if scene_threshold > 0 and diffs.get(i, 0.0) >= sure]
        if cuts:
            best = min(cuts, key=lambda i: (i not in keys, abs(i - b), -diffs[i]))
            bounds.append((best, True))
        elif window:
            best = min(window, key=lambda i: (i not in keys, abs(i - b)))
            bounds.append((best, False))
    spans = []
    for k, (first, at_cut) in enumerate(bounds):
        stop = bounds[k + 1][0] if k + 1 < len(bounds) else n
        spans.append(Span(k, first, stop, at_cut))
    return spans
