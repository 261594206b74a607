"""A cluster job's segments: where to cut the film (at sure scene cuts near the nominal split points) and the
plan in the segment folder that records them (plan.json), so that a re-run resumes.

A segment that starts at a scene cut gives exactly the frames of a one-process run (the engine keeps the film's
window grid and never lets a window cross a cut), so each boundary is moved to a *sure* cut within
`min(L/4, 150)` frames of its nominal place k·L, a keyframe among them first (FFmpeg's seek then decodes
nothing it throws away). Only where a stretch holds no sure cut does the boundary stay inside a shot; there the
windows reaching across it see less context than in one run, and their frames differ slightly.

Cuts are measured like the engine does (mean |ΔY| of consecutive RGB frames, `vsadcvsr.engine.scenes`), on
frames shrunk by area averaging to at most 160 pixels wide. Averaging can only lower a mean absolute
difference, so a cut seen on the small frames is a cut at full size; `SURE` is a margin on top for the
colour conversion and rounding, which differ slightly from the bridge's.

plan.json records the source (path, size, frame count), the settings that shape the segments' frames
(`PLAN_OPTIONS`, the container, the segment length) and the segments; a segment is done when its file
`seg-NNNNN.EXT` exists (a worker writes it under `.tmp` and renames it when complete).
"""
from __future__ import annotations

import bisect
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from vsadcvsr.engine.scenes import scene_difference

from .errors import BridgeError, ClusterError
from .job_options import JobOptions
from .probe import SourceInfo, file_url

#: a cut counts as sure when its difference is at least SURE times the engine's threshold
SURE = 1.5
#: width of the frames the planner measures on
SCAN_WIDTH = 160
PLAN = "plan.json"
PLAN_VERSION = 1
#: the folder inside the segment folder where the tries write (cleared at the start and the end of a job)
TRIES = ".tmp"
#: the options a plan records (with the container and the segment length): a re-run with others is refused
PLAN_OPTIONS = ("model", "device", "precision", "backend", "window", "overlap", "tile", "tile_overlap",
                "scene_threshold", "colour_fix", "vf_pre", "vf_post", "encoder_args")


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


# ------------------------------------------------------------------------------------------------------ the plan
def plan_settings(options: JobOptions, ext: str, segment_frames: int) -> dict[str, Any]:
    """What plan.json records of the job, as JSON values (a tuple is stored as a list)."""
    s = {k: getattr(options, k) for k in PLAN_OPTIONS}
    s["model"] = str(s["model"])
    s["colour_fix"] = "wavelet" if s["colour_fix"] is True else "none" if s["colour_fix"] is False else s["colour_fix"]
    s["container"] = ext
    s["segment_frames"] = segment_frames
    return json.loads(json.dumps(s))


def make_segment_dir(seg_dir: Path) -> None:
    """Creates the segment folder (and its parents) unless it exists; BridgeError when it cannot be made."""
    try:
        seg_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BridgeError(f"cannot make the segment folder {seg_dir}: {e.strerror or e}") from None


def load_or_make_plan(seg_dir: Path, info: SourceInfo, settings: dict[str, Any]) -> list[Span]:
    """The plan in `seg_dir` (checked against this job), or a new one written there."""
    source = {"path": str(info.path.resolve()), "size": info.path.stat().st_size, "frames": info.frames}
    path = seg_dir / PLAN
    if path.exists():
        try:
            old = json.loads(path.read_text())
            spans = [Span(**d) for d in old["segments"]]
        except (ValueError, KeyError, TypeError) as e:
            raise ClusterError(f"{path} is not a plan this version can read ({e}): use an empty --segment-dir"
                               ) from None
        changed = [k for k in sorted(set(settings) | set(old.get("settings", {})))
                   if settings.get(k) != old["settings"].get(k)]
        changed += [f"source {k}" for k in source if source[k] != old.get("source", {}).get(k)]
        if changed:
            raise ClusterError(
                f"{seg_dir} holds segments of another job (different: {', '.join(changed)}); "
                "use another --segment-dir, or empty this one to start over")
        return spans
    spans = plan_segments(info, settings["segment_frames"], settings["scene_threshold"])
    doc = {"version": PLAN_VERSION, "source": source, "settings": settings,
           "segments": [s.to_json() for s in spans]}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)
    return spans


def segment_path(seg_dir: Path, span: Span, ext: str) -> Path:
    """The file of a finished segment: `seg_dir/seg-NNNNN.EXT`."""
    return seg_dir / f"seg-{span.index:05d}{ext}"


def segments_to_do(seg_dir: Path, spans: list[Span], ext: str) -> list[Span]:
    """The spans whose segment file is not there yet, after clearing the tries an earlier run left unfinished."""
    shutil.rmtree(seg_dir / TRIES, ignore_errors=True)  # what killed tries of an earlier run left
    return [s for s in spans if not segment_path(seg_dir, s, ext).is_file()]
