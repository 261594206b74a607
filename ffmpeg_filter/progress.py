"""Progress on stderr: a tqdm bar on a terminal, a plain line every few seconds otherwise (logs, CI)."""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """Counts frames written; `total` may be None when filters change the frame count.

    Frames come out in bursts, one window at a time, after a start (model load, first window) that says
    nothing about the speed. So the rate for the ETA is measured from the first frame out, counting only the
    frames after the first `warmup` (a window's step), and no ETA is given before that ("ETA after the first
    window"); the tqdm bar on a terminal shows the same ETA.
    """

    def __init__(self, total: int | None, *, enabled: bool = True, stream: TextIO | None = None,
                 every: float = 5.0, label: str = "adcvsr-ffmpeg", warmup: int = 1) -> None:
        self.total = total
        self.n = 0
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.label = label
        self.warmup = max(warmup, 1)
        self.t0 = time.monotonic()
        self.t_first: float | None = None  # when the first frame came out
        self._last = self.t0
        self._bar: Any = None
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            # tqdm's own ETA would count the start-up as speed: ours goes in the postfix instead
            self._bar = tqdm(total=total, unit="frame", file=self.stream, desc=label, dynamic_ncols=True,
                             bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")

    def rate(self) -> float | None:
        """Frames per second after the first window, None until a frame past it is out."""
        if self.t_first is None or self.n <= self.warmup:
            return None
        return (self.n - self.warmup) / max(time.monotonic() - self.t_first, 1e-9)

    def eta(self) -> str:
        if not self.total:
            return ""
        rate = self.rate()
        if rate is None:
            return ", ETA after the first window"
        return f", ETA {_clock(max(self.total - self.n, 0) / rate)}"

    def line(self, eta: bool = True) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        text = f"{self.label}: {self.n}" + (f"/{self.total} frames" if self.total else " frames")
        return text + f", {self.n / elapsed:.2f} fps, elapsed {_clock(elapsed)}" + (self.eta() if eta else "")

    def update(self, k: int = 1) -> None:
        if self.t_first is None:
            self.t_first = time.monotonic()
        self.n += k
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(self.eta().removeprefix(", "), refresh=False)
            self._bar.update(k)
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            print(self.line(), file=self.stream, flush=True)

    def close(self, done: bool = True) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif done:
            print(self.line(eta=False) + ", done", file=self.stream, flush=True)
