"""Frames a damaged source has lost, found before anything is written: where, and about how many.

Three kinds of damage are told apart:

- lost data: the demuxer reported an error while the probe read the file; the frames missing around it are the
  gap in the video timestamps there (`gaps_near`);
- a cut-off end (`missing_at_end`): exact where the container counts the frames (MP4/MOV's sample table,
  mkvmerge's statistics tags), to half a frame where it stores the video's duration (FFmpeg's Matroska
  `DURATION` tag), else against the file's declared duration within max(2 frames, 0.25 s); MPEG-TS/PS and raw
  streams declare nothing to compare with, so a cut-off end cannot be told there;
- frames that do not decode cleanly: found while decoding (FFmpeg's `-xerror`), then named by `first_bad_frame`.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

import av

#: formats whose duration FFmpeg only estimates (no header field, no frame count): a cut-off end is invisible
UNDECLARED = {"mpegts", "mpeg", "mpegvideo", "h264", "hevc", "vvc", "m4v", "vc1", "rawvideo", "yuv4mpegpipe",
              "obu", "ivf", "image2", "image2pipe", "mjpeg", "avs2", "avs3", "cavsvideo", "dirac", "dnxhd"}


@dataclass(frozen=True)
class Loss:
    """Frames missing from a source.

    `start`: time (s) of the last frame before the loss; `end`: of the first frame after it, None at the end of
    the file; `before_frame`: index of that frame among the frames the file still has (the numbering of
    --start/--end); `frames`: about how many are missing, None when unknown; `reason`: what showed it.
    """

    frames: int | None
    start: float
    end: float | None
    before_frame: int
    reason: str

    def describe(self) -> str:
        what = f"about {self.frames} frame(s)" if self.frames else "data of an unknown number of frames"
        if self.end is None:
            return f"{what} missing at the end, after {self.start:.3f}s (frame {self.before_frame - 1}): {self.reason}"
        return (f"{what} lost between {self.start:.3f}s and {self.end:.3f}s (before frame {self.before_frame}): "
                f"{self.reason}")


def frame_duration(times: list[float], rate: float | None) -> float:
    """The usual distance of neighbouring frames: the median step, else 1/rate, else 1/25 s."""
    steps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
    if steps:
        return steps[len(steps) // 2]
    return 1.0 / rate if rate else 0.04


def gaps_near(times: list[float], lo: float, hi: float, step: float, reason: str) -> list[Loss]:
    """Losses where sorted `times` jump by more than 1.5 steps between `lo` and `hi` (inclusive)."""
    out = []
    i = max(bisect.bisect_left(times, lo) - 1, 0)
    while i + 1 < len(times) and times[i] <= hi:
        gap = times[i + 1] - times[i]
        if gap > 1.5 * step:
            out.append(Loss(max(round(gap / step) - 1, 1), times[i], times[i + 1], i + 1, reason))
        i += 1
    return out


def _duration_tag(text: str) -> float | None:
    m = re.fullmatch(r"\s*(\d+):(\d+):(\d+(?:\.\d+)?)\s*", text)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None


def _tag(tags: dict[str, str], name: str) -> str | None:
    """A Matroska tag by name, whatever its case or language suffix (NUMBER_OF_FRAMES-eng)."""
    for k, v in tags.items():
        if k.upper().split("-")[0] == name:
            return v
    return None


def declared_end(format_name: str, container_tags: dict[str, str], stream_tags: dict[str, str],
                 stream_frames: int) -> tuple[str, float] | None:
    """What the container says about the video's extent: ('frames', n) or ('seconds', video end), if anything.

    mkvmerge's statistics tags are trusted only when they were written by the program that wrote the file
    (a later remux keeps stale ones), as MKVToolNix itself does.
    """
    if "mov" in format_name or "mp4" in format_name:
        return ("frames", stream_frames) if stream_frames > 0 else None
    if "matroska" in format_name:
        n = _tag(stream_tags, "NUMBER_OF_FRAMES")
        app = _tag(stream_tags, "_STATISTICS_WRITING_APP")
        writer = _tag(container_tags, "ENCODER")
        if n and n.strip().isdigit() and app and writer and app.strip() == writer.strip():
            return "frames", int(n)
        duration = _tag(stream_tags, "DURATION")
        seconds = _duration_tag(duration) if duration else None
        if seconds:
            return "seconds", seconds
    return None


def missing_at_end(format_name: str, declared: tuple[str, float] | None, container_duration: float | None,
                   times: list[float], packets: int, video_end: float, streams_end: float,
                   step: float) -> Loss | None:
    """The frames cut off the end of a source, or None when nothing is missing (or nothing can tell).

    `times` are the sorted frame times, `packets` the video packets read, `video_end` where the last frame ends
    (container time) and `streams_end` where the last packet of any stream ends (from the container's start).
    """
    last = times[-1]
    n = len(times)
    if declared is not None and declared[0] == "frames":
        missing = int(declared[1]) - packets
        if missing > 0:
            return Loss(missing, last, None, n, f"the file says it has {int(declared[1])} frames, {packets} are there")
        return None
    if declared is not None:
        if video_end < declared[1] - step / 2:
            return Loss(max(round((declared[1] - video_end) / step), 1), last, None, n,
                        f"the video stops at {video_end:.3f}s but the file says it lasts until {declared[1]:.3f}s")
        return None
    if format_name.split(",")[0] in UNDECLARED or not container_duration:
        return None
    if streams_end < container_duration - max(2 * step, 0.25):
        return Loss(max(round((container_duration - streams_end) / step), 1), last, None, n,
                    f"its streams stop at {streams_end:.3f}s but the file says it lasts {container_duration:.3f}s")
    return None


def first_bad_frame(url: str, times: tuple[float, ...], start: float, start_time: float,
                    limit: int = 600) -> tuple[int, str] | None:
    """The first frame from time `start` on that does not decode cleanly: (index, what), or None.

    Decodes with one thread from the keyframe before `start`, so an error belongs to the packet just sent.
    `times` are the source's frame times (relative to `start_time`, the container's start); at most `limit`
    frames are looked at. Used after a strict decoder failed, to name the frame exactly.
    """
    try:
        with av.open(url) as c:
            v = c.streams.video[0]
            v.thread_type = "NONE"
            v.codec_context.thread_count = 1
            tb = float(v.time_base)
            if start > 0:
                c.seek(int((start + start_time) / tb), stream=v, backward=True)

            def index(pts: int | None) -> int | None:
                if pts is None:
                    return None
                t = pts * tb - start_time
                i = bisect.bisect_left(times, t - 5e-4)
                return i if i < len(times) and abs(times[i] - t) < 5e-4 else None

            expected = bisect.bisect_left(times, start - 5e-4)
            seen = 0
            for pkt in c.demux(v):
                try:
                    frames = pkt.decode()
                except av.error.FFmpegError as e:
                    i = index(pkt.pts)
                    if i is not None and i >= expected:
                        return i, f"FFmpeg cannot decode it ({e.strerror or e})"
                    continue
                for f in frames:
                    i = index(f.pts)
                    if i is None or i < expected:
                        continue
                    if i > expected:
                        return expected, "the decoder gave no picture for it"
                    if f.is_corrupt:
                        return i, "it decodes with errors (concealed by FFmpeg)"
                    expected += 1
                    seen += 1
                    if seen >= limit:
                        return None
    except (av.error.FFmpegError, OSError, IndexError):
        return None
    return None


def describe_bad_frame(path: Path, index: int, times: tuple[float, ...], what: str) -> str:
    t = times[index] if 0 <= index < len(times) else float("nan")
    return f"frame {index} ({t:.3f}s) of {path} does not decode cleanly: {what}"
