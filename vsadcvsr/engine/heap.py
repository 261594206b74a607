"""The process heap for CPU inference: glibc's malloc settings that keep freed memory for reuse.

A window's activations are tensors of tens to hundreds of MB. With glibc's defaults each one is a fresh mmap
(worker threads' arenas cannot hold them, and the main arena hands large blocks back at once), so every layer
page-faults its output in anew: on a 2-core CPU about half of the `compact` model's time (scripts/benchmark.py,
docs/results.md). One arena for all threads, large blocks from the heap and 1 GiB of freed memory kept make later
windows reuse the same pages: ~2x faster for 20-40 % more peak memory.

Kept memory must not grow without end: VapourSynth's frame buffers come from the same heap, and their mixed
lifetimes leave freed pages scattered through it that the 1 GiB trim threshold never hands back (RSS rose
~0.5 MiB per frame at 128x72, docs/results.md). `trim_if_due` (called after each window) returns them with
malloc_trim at most every TRIM_EVERY_S seconds, or sooner once RSS has grown TRIM_GROWTH bytes since the last
trim (`VSADCVSR_HEAP_TRIM_MB` sets that growth in MiB, for machines where 1 GiB of slack is too much).

`VSADCVSR_HEAP=system` keeps glibc's defaults; so does any `MALLOC_*` variable or malloc tunable already set
(the user's choice).
"""
from __future__ import annotations

import ctypes
import logging
import math
import os
import platform
import threading
import time

log = logging.getLogger("vsadcvsr")

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters (malloc.h)
KEEP_BYTES = 1 << 30
TRIM_EVERY_S = 20.0
TRIM_GROWTH = 1 << 30
TRIM_GROWTH_VARIABLE = "VSADCVSR_HEAP_TRIM_MB"

_lock = threading.Lock()
_state: str | None = None
_last_trim = (0.0, 0)  # (monotonic time, RSS in bytes) after the last trim
_trim_growth = TRIM_GROWTH


def reason_to_keep_defaults() -> str | None:
    """Why glibc's defaults are left alone (the user chose, or no glibc), or None when the settings apply."""
    if os.environ.get("VSADCVSR_HEAP", "").lower() == "system":
        return "VSADCVSR_HEAP=system"
    user = sorted(k for k in os.environ if k.startswith("MALLOC_"))
    if user:
        return f"{user[0]} is set"
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES sets malloc"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "not glibc"
    return None


def keep_freed_memory() -> str:
    """Applies the settings once per process (later calls return the first outcome): "applied" or why not."""
    global _state
    with _lock:
        if _state is None:
            _state = reason_to_keep_defaults() or _apply()
            log.debug("vsadcvsr: heap settings: %s", _state)
        return _state


def trim_growth_from_environment() -> int:
    """RSS growth in bytes that triggers a trim: `VSADCVSR_HEAP_TRIM_MB` (a positive number of MiB) or TRIM_GROWTH."""
    raw = os.environ.get(TRIM_GROWTH_VARIABLE, "").strip()
    if not raw:
        return TRIM_GROWTH
    try:
        mib = float(raw)
    except ValueError:
        mib = 0.0
    if not (mib > 0 and math.isfinite(mib)):
        log.warning("vsadcvsr: %s=%r is not a positive number of MiB; using %d", TRIM_GROWTH_VARIABLE, raw,
                    TRIM_GROWTH >> 20)
        return TRIM_GROWTH
    return int(mib * 2**20)


def _apply() -> str:
    global _trim_growth
    _trim_growth = trim_growth_from_environment()
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return "no mallopt"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = all(mallopt(p, v) == 1 for p, v in ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, KEEP_BYTES),
                                             (M_TRIM_THRESHOLD, KEEP_BYTES)))
    return "applied" if ok else "mallopt refused"


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def trim_if_due() -> bool:
    """Hands freed heap pages back to the system if the settings apply and a trim is due; True if it trimmed."""
    global _last_trim
    if _state != "applied":
        return False
    now, rss = time.monotonic(), _rss_bytes()
    with _lock:
        when, base = _last_trim
        if now - when < TRIM_EVERY_S and rss - base < _trim_growth:
            return False
        _last_trim = (now, rss)  # claimed: other threads do not trim at the same time
    ctypes.CDLL(None).malloc_trim(0)
    _last_trim = (time.monotonic(), _rss_bytes())
    return True
