"""The FFmpeg child processes of a job: their stderr drained, their end reported, and what an abort must undo.

Every FFmpeg process and every partial output file of a running job is registered here, so that an abort
(`abort_all`, called on Ctrl-C/SIGTERM by the command line's signal watcher, possibly from another thread
while the main thread is busy in a long model call) can kill the processes at once and remove the files.
"""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import IO


class Drain(threading.Thread):
    """Reads a process's stderr so its pipe never fills (a full pipe would stall FFmpeg), keeping the tail.

    `count(text)` says how many lines contained `text` (e.g. FFmpeg's "corrupt decoded frame").
    """

    def __init__(self, stream: IO[bytes], keep: int = 40, counted: tuple[str, ...] = ()) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)
        self.counts = dict.fromkeys(counted, 0)

    def run(self) -> None:
        for raw in iter(self.stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.lines.append(line)
                for text in self.counts:
                    if text in line:
                        self.counts[text] += 1

    def count(self, text: str) -> int:
        return self.counts.get(text, 0)

    def tail(self, n: int = 8) -> str:
        self.join(timeout=5)
        lines = [ln for ln in self.lines if not ln.startswith(("Exiting with exit code", "Conversion failed"))]
        return "\n".join(lines[-n:]) if lines else "(FFmpeg printed nothing)"


def status(rc: int | None) -> str:
    """How a process ended, in words."""
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit code {rc}"


def wait_briefly(proc: subprocess.Popen, seconds: float = 5.0) -> None:
    """Gives a dying FFmpeg time to exit (its last words are still in the pipe); never raises."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pass


def kill(proc: subprocess.Popen | None) -> None:
    """Ends an FFmpeg process at once (SIGKILL: its output is thrown away anyway), reaps it, closes its pipes.

    Killing first matters: a thread blocked writing into a live but stalled FFmpeg holds the pipe's lock, and
    closing the pipe would wait for it.
    """
    if proc is None:
        return
    if proc.poll() is None:
        try:
            proc.kill()
        except OSError:
            pass
        proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        try:
            if pipe is not None:
                pipe.close()
        except (OSError, ValueError):
            pass
    untrack(proc)


# ------------------------------------------------------------------------------------------ what an abort undoes
_lock = threading.RLock()
_processes: set[subprocess.Popen] = set()
_partials: set[Path] = set()
_aborted = False


class Aborted(Exception):
    """The job was aborted (a signal) while it was about to finish; nothing was kept."""


def track(proc: subprocess.Popen) -> subprocess.Popen:
    """Registers a running FFmpeg process; an abort kills it. Returns `proc`."""
    with _lock:
        if _aborted:
            proc.kill()
        _processes.add(proc)
    return proc


def untrack(proc: subprocess.Popen) -> None:
    with _lock:
        _processes.discard(proc)


def track_partial(path: Path) -> None:
    """Registers a partial output file; an abort removes it."""
    with _lock:
        _partials.add(path)


def discard_partial(path: Path) -> None:
    """Removes a partial output file (if it is there) and forgets it."""
    with _lock:
        path.unlink(missing_ok=True)
        _partials.discard(path)


def commit(partial: Path, final: Path) -> None:
    """Renames a finished partial file to its final name, unless an abort came first (then raises Aborted)."""
    with _lock:
        if _aborted:
            raise Aborted("interrupted")
        os.replace(partial, final)
        _partials.discard(partial)


def abort_all() -> int:
    """Kills every registered FFmpeg process and removes every partial file; safe from any thread.

    Returns how many processes were killed. After this, `commit` refuses and `track` kills at once.
    """
    global _aborted
    with _lock:
        _aborted = True
        procs = list(_processes)
        for p in procs:
            try:
                p.kill()
            except OSError:
                pass
        for p in procs:
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        for f in list(_partials):
            f.unlink(missing_ok=True)
        _partials.clear()
        return len(procs)
