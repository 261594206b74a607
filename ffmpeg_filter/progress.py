"""Progress on stderr: a tqdm bar on a terminal, a plain line every few seconds otherwise (logs, CI)."""
from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """Counts frames written; `total` may be None when filters change the frame count."""

    def __init__(self, total: int | None, *, enabled: bool = True, stream: TextIO | None = None,
                 every: float = 5.0, label: str = "adcvsr-ffmpeg") -> None:
        self.total = total
        self.n = 0
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.label = label
        self.t0 = time.monotonic()
        self._last = self.t0
        self._bar = None
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="frame", file=self.stream, desc=label, dynamic_ncols=True)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        fps = self.n / elapsed
        text = f"{self.label}: {self.n}" + (f"/{self.total} frames" if self.total else " frames")
        text += f", {fps:.2f} fps, elapsed {_clock(elapsed)}"
        if self.total and fps > 0:
            text += f", ETA {_clock(max(self.total - self.n, 0) / fps)}"
        return text

    def update(self, k: int = 1) -> None:
        self.n += k
        if not self.enabled:
            return
        if self._bar is not None:
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
            print(self.line() + ", done", file=self.stream, flush=True)
