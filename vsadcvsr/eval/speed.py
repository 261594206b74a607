"""Timing and memory measurement for benchmarks: median of timed runs after a warm-up, peak resident memory."""
from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds of each timed run; `warmup` is the untimed first run, also used as the only run when slow."""

    runs: tuple[float, ...]
    warmup: float
    warmup_counted: bool = False

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def time_runs(fn: Callable[[], object], repeats: int = 3, budget_s: float = 60.0, slow_s: float = 30.0) -> Timing:
    """Runs `fn` once to warm up, then up to `repeats` timed runs while their total stays within `budget_s`
    (at least one). A warm-up slower than `slow_s` is counted as the single run instead (the cost of warming
    up is then inside the figure, which `warmup_counted` says)."""
    t0 = time.perf_counter()
    fn()
    warm = time.perf_counter() - t0
    if warm > slow_s:
        return Timing((warm,), warm, True)
    n = max(1, min(repeats, int(budget_s // max(warm, 1e-9))))
    runs = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return Timing(tuple(runs), warm)


def _status_mib(field: str, pid: int | str = "self") -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return float("nan")


def peak_rss_mib(pid: int | str = "self") -> float:
    """Peak resident memory of a process in MiB: Linux's VmHWM, which starts afresh at exec (getrusage's
    ru_maxrss does not: a child inherits its parent's peak through fork and exec); ru_maxrss elsewhere."""
    v = _status_mib("VmHWM", pid)
    if v == v or pid != "self":
        return v
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0)  # macOS reports bytes


def current_rss_mib(pid: int | str = "self") -> float:
    """Resident memory now in MiB (Linux /proc; NaN elsewhere)."""
    return _status_mib("VmRSS", pid)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (Linux /proc; just `pid` elsewhere)."""
    import os

    children: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return [pid]
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def run_watching_memory(cmd: list[str], timeout: float, poll_s: float = 0.1, **popen: object) -> tuple[int, str, str,
                                                                                                       float, float]:
    """Runs `cmd` until it exits: (returncode, stdout, stderr, seconds, peak MiB). The peak is the sum over the
    process and its descendants of each one's peak RSS (VmHWM), polled every `poll_s` (an upper bound when they
    peak at different times; launcher scripts that run the real program as a child are covered).
    Raises subprocess.TimeoutExpired after `timeout` seconds (the process is killed)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, **popen)  # type: ignore[call-overload]
        peaks: dict[int, float] = {}
        while proc.poll() is None:
            for p in process_tree(proc.pid):
                v = peak_rss_mib(p)
                if v == v:
                    peaks[p] = max(peaks.get(p, 0.0), v)
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                proc.wait()
                raise subprocess.TimeoutExpired(cmd, timeout)
            time.sleep(poll_s)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), seconds, sum(peaks.values()) if peaks else float("nan")
