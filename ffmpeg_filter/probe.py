"""What the bridge needs to know about a source, read with PyAV (no ffprobe needed), damage included."""
from __future__ import annotations

import collections
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.logging

from vsadcvsr.engine.colour import default_matrix

from .damage import UNDECLARED, Loss, declared_end, frame_duration, gaps_near, missing_at_end
from .errors import BridgeError

#: AVColorSpace values that name a YCbCr matrix FFmpeg's scaler knows.
_MATRICES = {1, 4, 5, 6, 7, 9, 10}
_NEAR = 32  #: video packets on each side of a demuxer error among which its gap is looked for


def file_url(path: str | os.PathLike[str]) -> str:
    """`path` as FFmpeg's `file:` URL, so a name with a colon (a:b.mkv) is never read as a protocol."""
    return "file:" + os.path.abspath(os.fspath(path))


@dataclass(frozen=True)
class SourceInfo:
    """The first video stream of a file and what else the file holds.

    Timestamps are in seconds relative to the container's start (as FFmpeg sees them without `-copyts`).
    `frame_times` are the presentation times of the video frames in order, read from the demuxed packets.
    Colour fields hold FFmpeg's enum values (0 or 2 = unspecified), `sar` is None when unknown.
    `losses` are the frames the file has lost (damaged data, a cut-off end), found while probing.
    """

    path: Path
    format_name: str
    width: int
    height: int
    pix_fmt: str
    bits: int
    time_base: Fraction
    average_rate: Fraction | None
    frame_times: tuple[float, ...]
    color_range: int
    color_primaries: int
    color_trc: int
    colorspace: int
    sar: Fraction | None
    duration: float | None
    leading: int = 0  #: frames shown before the first keyframe: a decoder may have to drop them
    audio: int = 0
    subtitles: tuple[str, ...] = field(default_factory=tuple)
    data: int = 0
    attachments: int = 0
    start_time: float = 0.0  #: the container's start, seconds (frame_times count from it)
    losses: tuple[Loss, ...] = ()

    @property
    def frames(self) -> int:
        return len(self.frame_times)

    @property
    def lost_frames(self) -> int:
        """About how many frames `losses` account for (those of unknown extent count as 0)."""
        return sum(loss.frames or 0 for loss in self.losses)

    @property
    def high_bit_depth(self) -> bool:
        return self.bits > 8

    @property
    def indexed(self) -> bool:
        """Containers with a keyframe index, where FFmpeg's input seek lands exactly (MPEG-TS/PS have none)."""
        return any(k in self.format_name for k in ("matroska", "mov", "mp4", "nut"))

    @property
    def full_range(self) -> bool:
        return self.color_range == 2 or self.pix_fmt.startswith("yuvj")

    @property
    def is_rgb(self) -> bool:
        return self.pix_fmt.startswith(("rgb", "bgr", "gbr", "argb", "abgr", "rgba", "bgra", "0rgb", "rgb0"))

    @property
    def matrix(self) -> int:
        """The YCbCr matrix to convert with: the tag, else the project's one rule for untagged video
        (`vsadcvsr.engine.colour.default_matrix`, mpv's: BT.709 if width >= 1280 or height > 576, else BT.601)."""
        if self.colorspace in _MATRICES:
            return self.colorspace
        return default_matrix(self.width, self.height)

    @property
    def chroma(self) -> str:
        """'420', '422' or '444', the subsampling the output keeps."""
        for c in ("444", "422", "440", "411", "410"):
            if c in self.pix_fmt:
                return "444" if c == "444" else "422" if c == "422" else "420"
        return "444" if self.is_rgb else "420"


def _check_readable(p: Path) -> None:
    if not p.exists():
        raise BridgeError(f"input not found: {p}")
    if p.is_dir():
        raise BridgeError(f"input is a directory: {p}")
    if not os.access(p, os.R_OK):
        raise BridgeError(f"cannot read input: {p} (permission denied)")


class _Event:
    """A demuxer error: the video times read just before it and just after it, and its message."""

    def __init__(self, before: list[float], message: str) -> None:
        self.before = before
        self.after: list[float] = []
        self.message = message


def _losses(events: list[_Event], times: list[float], step: float) -> list[Loss]:
    """The frames missing around each demuxer error (a gap in the timestamps), each gap once."""
    found: dict[int, Loss] = {}
    for ev in events:
        reason = f"the file is damaged there (FFmpeg: {ev.message})"
        if not ev.before and times and times[0] > 1.5 * step:  # lost before the first frame left
            found.setdefault(0, Loss(round(times[0] / step), 0.0, times[0], 0, reason))
            continue
        if not ev.after:
            continue  # at the very end: the end check below counts what is missing there
        lo = min(ev.before) if ev.before else times[0]
        gaps = gaps_near(times, lo, max(ev.after), step, reason)
        for g in gaps:
            found.setdefault(g.before_frame, g)
        if not gaps:  # data damaged, whole frames not (visibly) lost
            t = max(ev.before) if ev.before else times[0]
            i = next((k for k, x in enumerate(times) if x > t), len(times) - 1)
            found.setdefault(-1 - i, Loss(None, t, times[i], i, reason))
    return [found[k] for k in sorted(found, key=lambda k: found[k].start)]


def probe(path: str | os.PathLike[str]) -> SourceInfo:
    """Reads stream metadata, the video frames' timestamps and what the file has lost; raises BridgeError on
    anything unusable."""
    p = Path(path)
    _check_readable(p)
    level, skip = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR)
    av.logging.set_skip_repeated(False)  # else the same damage read twice is reported once
    try:
        with av.logging.Capture() as logs:
            try:
                container = av.open(file_url(p))
            except av.error.FFmpegError as e:
                raise BridgeError(
                    f"cannot open {p}: not a media file FFmpeg can read, or it is corrupt ({e.strerror or e})"
                ) from None
            with container:
                return _read(p, container, logs)
    finally:
        av.logging.set_level(level)
        av.logging.set_skip_repeated(skip)


def _read(p: Path, container: av.container.InputContainer, logs: list) -> SourceInfo:
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not videos:
        raise BridgeError(f"{p} has no video stream")
    v = videos[0]
    if v.index != container.streams.video[0].index:
        raise BridgeError(f"{p}: the first video stream is a cover picture; such files are not supported")
    cc = v.codec_context
    if not cc.width or not cc.height or cc.format is None:
        raise BridgeError(f"{p}: the video stream has no size or pixel format (corrupt file?)")
    start = (container.start_time or 0) / 1_000_000
    tb = Fraction(v.time_base) if v.time_base else Fraction(1, 1000)  # type: ignore[call-overload]
    fmt = container.format.name
    pts: list[int] = []
    max_pts: int | None = None
    last_duration = 0
    packets = 0
    key_pts: int | None = None
    streams_end = 0.0  # where the last packet of any stream ends, in seconds
    recent: collections.deque[float] = collections.deque(maxlen=_NEAR)
    events: list[_Event] = []
    seen_logs = len(logs)
    tolerate_start = fmt.split(",")[0] in UNDECLARED  # a capture may start mid-stream

    def note_errors() -> None:
        nonlocal seen_logs
        if len(logs) > seen_logs:
            message = str(logs[-1][2]).strip()
            seen_logs = len(logs)
            if not (tolerate_start and key_pts is None):
                events.append(_Event(list(recent), message))

    demux = container.demux()
    while True:
        try:
            pkt = next(demux)
        except StopIteration:
            break
        except av.error.FFmpegError as e:
            events.append(_Event(list(recent), f"{e.strerror or e}"))
            break
        note_errors()
        if not pkt.size or pkt.pts is None:
            continue
        if pkt.stream.index == v.index:
            packets += 1
            if pkt.is_corrupt and key_pts is not None:
                events.append(_Event(list(recent), "a packet marked corrupt"))
            if not pkt.is_discard:
                pts.append(pkt.pts)
                if max_pts is None or pkt.pts >= max_pts:
                    max_pts, last_duration = pkt.pts, pkt.duration or 0
                t = float(pkt.pts * tb) - start
                recent.append(t)
                for ev in events:
                    if len(ev.after) < _NEAR:
                        ev.after.append(t)
                if key_pts is None and pkt.is_keyframe:
                    key_pts = pkt.pts
        if pkt.time_base:
            streams_end = max(streams_end, float((pkt.pts + (pkt.duration or 0)) * pkt.time_base))
    note_errors()
    if not pts:
        raise BridgeError(f"{p}: the video stream holds no frames" + (
            f" (FFmpeg: {events[0].message})" if events else ""))
    pts.sort()
    times = [float(x * tb) - start for x in pts]
    rate = float(v.average_rate) if v.average_rate else None
    step = frame_duration(times, rate)
    losses = _losses(events, times, step)
    declared = container.duration / 1_000_000 if container.duration else None
    video_end = float((pts[-1] + last_duration) * tb) if last_duration else float(pts[-1] * tb) + step
    cut = missing_at_end(fmt, declared_end(fmt, dict(container.metadata), dict(v.metadata), v.frames or 0),
                         declared, times, packets, video_end, streams_end - start, step)
    if cut is not None:
        losses.append(cut)
    sar = Fraction(v.sample_aspect_ratio) if v.sample_aspect_ratio else None  # type: ignore[call-overload]
    bits = max((c.bits for c in cc.format.components), default=8)
    return SourceInfo(
        path=p,
        format_name=fmt,
        width=cc.width,
        height=cc.height,
        pix_fmt=cc.format.name,
        bits=bits,
        time_base=tb,
        average_rate=Fraction(v.average_rate) if v.average_rate else None,  # type: ignore[call-overload]
        frame_times=tuple(times),
        color_range=int(cc.color_range or 0),
        color_primaries=int(cc.color_primaries or 0),
        color_trc=int(cc.color_trc or 0),
        colorspace=int(cc.colorspace or 0),
        sar=sar if sar and sar > 0 else None,
        leading=sum(1 for x in pts if key_pts is None or x < key_pts),
        duration=declared,
        audio=len(container.streams.audio),
        subtitles=tuple(s.codec_context.name for s in container.streams.subtitles),
        data=len(container.streams.data),
        attachments=len(container.streams.attachments),
        start_time=start,
        losses=tuple(losses),
    )
