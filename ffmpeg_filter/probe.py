"""What the bridge needs to know about a source, read with PyAV (no ffprobe needed)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from .errors import BridgeError

#: AVColorSpace values that name a YCbCr matrix FFmpeg's scaler knows.
_MATRICES = {1, 4, 5, 6, 7, 9, 10}
_BT709, _SMPTE170M = 1, 6


@dataclass(frozen=True)
class SourceInfo:
    """The first video stream of a file and what else the file holds.

    Timestamps are in seconds relative to the container's start (as FFmpeg sees them without `-copyts`).
    `frame_times` are the presentation times of the video frames in order, read from the demuxed packets.
    Colour fields hold FFmpeg's enum values (0 or 2 = unspecified), `sar` is None when unknown.
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

    @property
    def frames(self) -> int:
        return len(self.frame_times)

    @property
    def high_bit_depth(self) -> bool:
        return self.bits > 8

    @property
    def variable_rate(self) -> bool:
        """True when the frame durations differ by more than one time-base tick."""
        t = self.frame_times
        if len(t) < 3:
            return False
        d = [b - a for a, b in zip(t, t[1:])]
        return max(d) - min(d) > 1.5 * float(self.time_base)

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
        """The YCbCr matrix to convert with: the tag, else what players assume for the size (BT.709 from HD on)."""
        if self.colorspace in _MATRICES:
            return self.colorspace
        return _BT709 if self.width >= 1280 or self.height >= 720 else _SMPTE170M

    @property
    def chroma(self) -> str:
        """'420', '422' or '444', the subsampling the output keeps."""
        for c in ("444", "422", "440", "411", "410"):
            if c in self.pix_fmt:
                return "444" if c == "444" else "422" if c == "422" else "420"
        return "444" if self.is_rgb else "420"


def probe(path: str | os.PathLike[str]) -> SourceInfo:
    """Reads stream metadata and the video frames' timestamps; raises BridgeError on anything unusable."""
    p = Path(path)
    if not p.exists():
        raise BridgeError(f"input not found: {p}")
    if p.is_dir():
        raise BridgeError(f"input is a directory: {p}")
    if not os.access(p, os.R_OK):
        raise BridgeError(f"cannot read input: {p} (permission denied)")
    try:
        container = av.open(str(p))
    except av.error.FFmpegError as e:
        raise BridgeError(f"cannot open {p}: not a media file FFmpeg can read, or it is corrupt ({e.strerror or e})") from None
    with container:
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
        tb = Fraction(v.time_base) if v.time_base else Fraction(1, 1000)
        pts: list[int] = []
        key_pts: int | None = None
        end = 0.0  # where the last packet of any stream ends, in seconds
        try:
            for pkt in container.demux():
                if not pkt.size or pkt.pts is None:
                    continue
                if pkt.stream.index == v.index and not pkt.is_discard:
                    pts.append(pkt.pts)
                    if key_pts is None and pkt.is_keyframe:
                        key_pts = pkt.pts
                if pkt.time_base:
                    end = max(end, float((pkt.pts + (pkt.duration or 0)) * pkt.time_base))
        except av.error.FFmpegError as e:
            raise BridgeError(f"{p} is corrupt or truncated: {e.strerror or e} after {len(pts)} video packets") from None
        if not pts:
            raise BridgeError(f"{p}: the video stream holds no frames")
        declared = container.duration / 1_000_000 if container.duration else None
        if declared is not None and end - start < declared - max(1.0, 0.05 * declared):
            raise BridgeError(
                f"{p} is truncated or corrupt: its streams end at {end - start:.2f}s but the file says it lasts "
                f"{declared:.2f}s"
            )
        pts.sort()
        times = tuple(float(x * tb) - start for x in pts)
        sar = Fraction(v.sample_aspect_ratio) if v.sample_aspect_ratio else None
        bits = max((c.bits for c in cc.format.components), default=8)
        duration = declared
        return SourceInfo(
            path=p,
            format_name=container.format.name,
            width=cc.width,
            height=cc.height,
            pix_fmt=cc.format.name,
            bits=bits,
            time_base=tb,
            average_rate=Fraction(v.average_rate) if v.average_rate else None,
            frame_times=times,
            color_range=int(cc.color_range or 0),
            color_primaries=int(cc.color_primaries or 0),
            color_trc=int(cc.color_trc or 0),
            colorspace=int(cc.colorspace or 0),
            sar=sar if sar and sar > 0 else None,
            leading=sum(1 for x in pts if key_pts is None or x < key_pts),
            duration=duration,
            audio=len(container.streams.audio),
            subtitles=tuple(s.codec_context.name for s in container.streams.subtitles),
            data=len(container.streams.data),
            attachments=len(container.streams.attachments),
        )
