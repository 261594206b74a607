"""Ctrl-C and SIGTERM answered within a second, even while the main thread is inside a long model call.

Python runs signal handlers only between bytecodes of the main thread; a model call (seconds to minutes in C++)
would delay them. So the C-level handler's wake-up byte (`signal.set_wakeup_fd`) goes to a socket that a watcher
thread reads: it calls `on_signal(signum)` at once, from that thread. The Python-level handlers do nothing, or,
with `raise_in_main`, raise `Interrupted` in the main thread so that a job with clean-up of its own (a cluster)
unwinds; `on_signal` is then the safety net.
"""
from __future__ import annotations

import signal
import socket
import threading
from types import FrameType
from typing import Any, Callable

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """Raised in the main thread by a signal (with `raise_in_main`); an Exception, so PyAV's callbacks pass it on."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SignalWatcher:
    """Context manager (main thread only): while active, SIGINT/SIGTERM call `on_signal(signum)` in a thread."""

    def __init__(self, on_signal: Callable[[int], None], raise_in_main: bool = False) -> None:
        self.on_signal = on_signal
        self.raise_in_main = raise_in_main
        self._raised = False
        self._old_handlers: dict[int, Any] = {}
        self._old_fd = -1
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "SignalWatcher":
        self._read, self._write = socket.socketpair()
        self._write.setblocking(False)
        self._old_handlers = {s: signal.signal(s, self._python_handler) for s in SIGNALS}
        self._old_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._watch, name="adcvsr-signal-watcher", daemon=True)
        self._thread.start()
        return self

    def _python_handler(self, signum: int, frame: FrameType | None) -> None:
        """The Python-level handler: the watcher thread acts on the signal (and, asked, the main thread unwinds)."""
        if self.raise_in_main and not self._raised:
            self._raised = True
            raise Interrupted(signum)

    def _watch(self) -> None:
        while True:
            try:
                data = self._read.recv(64)
            except OSError:
                return
            if not data:  # __exit__ closed the other end
                return
            for signum in data:
                if signum in SIGNALS:
                    self.on_signal(signum)

    def __exit__(self, *exc: object) -> None:
        signal.set_wakeup_fd(self._old_fd)
        for s, h in self._old_handlers.items():
            signal.signal(s, h)
        self._write.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._read.close()
