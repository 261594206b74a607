"""--start / --end: positions given as frames or times, turned into exact source frame indices and seek times."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import BridgeError
from .probe import SourceInfo


def parse_position(value: int | float | str) -> tuple[str, float]:
    """('frame', n) for an integer, ('time', seconds) for a float, '4.5s', '90s' or '[hh:]mm:ss[.ff]'."""
    if isinstance(value, bool):
        raise BridgeError(f"invalid position: {value!r}")
    if isinstance(value, int):
        kind, x = "frame", float(value)
    elif isinstance(value, float):
        kind, x = "time", value
    else:
        text = value.strip()
        if re.fullmatch(r"\d+", text):
            kind, x = "frame", float(int(text))
        elif m := re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)s", text):
            kind, x = "time", float(m.group(1))
        elif re.fullmatch(r"(\d+:){1,2}\d+(\.\d*)?", text):
            kind, x = "time", sum(float(p) * 60**i for i, p in enumerate(reversed(text.split(":"))))
        else:
            raise BridgeError(
                f"invalid position {value!r}: use a frame number (100), seconds with an 's' (4.5s) or a time (1:02.5)"
            )
    if x < 0 or not math.isfinite(x):
        raise BridgeError(f"invalid position {value!r}: must not be negative")
    return kind, x


@dataclass(frozen=True)
class Segment:
    """Source frames [first, stop) and how FFmpeg reaches them: input seek and duration, in seconds."""

    first: int
    stop: int
    seek: float | None
    duration: float | None

    @property
    def frames(self) -> int:
        return self.stop - self.first


def resolve_range(info: SourceInfo, start: int | float | str | None, end: int | float | str | None) -> Segment:
    """Turns --start/--end (end exclusive) into exact source frame indices, then into seek times."""
    times = info.frame_times
    n_total = len(times)

    def index(pos: int | float | str) -> int:
        kind, x = parse_position(pos)
        if kind == "frame":
            return int(x)
        # first frame shown at or after x (half a microsecond of slack for decimal round-off)
        return next((i for i, t in enumerate(times) if t >= x - 5e-7), n_total)

    first = 0 if start is None else index(start)
    stop = n_total if end is None else min(index(end), n_total)
    if first >= n_total:
        raise BridgeError(f"--start {start} is past the end of the video ({n_total} frames, {times[-1]:.3f}s)")
    if stop <= first:
        raise BridgeError(f"empty range: --end {end} is not after --start {start}")
    # seek a hair before the first frame's time: FFmpeg then drops exactly the frames before it
    seek = None if first == 0 else math.floor(times[first] * 1e6) / 1e6
    if seek is not None and first > 0 and seek <= times[first - 1]:
        seek = (times[first - 1] + times[first]) / 2
    duration = None if stop == n_total else times[stop] - times[first]
    return Segment(first, stop, seek, duration)
