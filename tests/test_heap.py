"""The CPU heap settings (vsadcvsr/engine/heap.py), each in a fresh process: they change glibc's malloc for good."""
from __future__ import annotations

import ctypes
import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or not hasattr(ctypes.CDLL(None), "mallinfo2"),
    reason="needs glibc >= 2.33 (mallinfo2)",
)

# Creates a CPU Upscaler (which applies the settings), then allocates 256 MB and reports how much of it glibc
# served by mmap (hblkhd) rather than from the heap, from a worker thread as VapourSynth does.
PROBE = r"""
import ctypes, json, threading, torch
from vsadcvsr.engine.heap import keep_freed_memory
from vsadcvsr.engine.upscaler import Upscaler

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = Info
Upscaler("tiny", device="cpu")
out = {"state": keep_freed_memory()}

def work():
    x = torch.empty(64 << 20, dtype=torch.float32)
    x.fill_(1.0)
    out["mmapped_mb"] = mallinfo2().hblkhd / 2**20
    del x

t = threading.Thread(target=work)
t.start()
t.join()
print(json.dumps(out))
"""


def _probe(**env: str) -> dict:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("MALLOC_") and k not in ("VSADCVSR_HEAP", "GLIBC_TUNABLES")}
    res = subprocess.run([sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_a_cpu_upscaler_serves_large_blocks_from_the_heap_even_in_worker_threads() -> None:
    r = _probe()
    assert r["state"] == "applied"
    assert r["mmapped_mb"] < 64, r  # the 256 MB block came from the one shared heap, not a fresh mmap


def test_the_user_can_keep_glibcs_defaults() -> None:
    for env, why in (({"VSADCVSR_HEAP": "system"}, "VSADCVSR_HEAP=system"),
                     ({"MALLOC_ARENA_MAX": "4"}, "MALLOC_ARENA_MAX is set"),
                     ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}, "GLIBC_TUNABLES sets malloc")):
        r = _probe(**env)
        assert r["state"] == why
        assert r["mmapped_mb"] >= 256, r  # glibc's default: a block this size is mmapped


def test_the_trim_growth_comes_from_the_environment_or_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from vsadcvsr.engine import heap

    monkeypatch.delenv(heap.TRIM_GROWTH_VARIABLE, raising=False)
    assert heap.trim_growth_from_environment() == heap.TRIM_GROWTH
    monkeypatch.setenv(heap.TRIM_GROWTH_VARIABLE, "64")
    assert heap.trim_growth_from_environment() == 64 << 20
    for bad in ("0", "-5", "lots", "inf", "nan"):
        monkeypatch.setenv(heap.TRIM_GROWTH_VARIABLE, bad)
        assert heap.trim_growth_from_environment() == heap.TRIM_GROWTH, bad


def test_rss_stays_flat_over_a_long_vspipe_run() -> None:
    """Issue #14 item 5: with the heap settings, RSS grew ~0.5 MiB per frame without end at 128x72 under
    `vspipe -r 4` (VapourSynth's freed frame buffers filling the kept heap). The network is a stand-in
    (nearest-neighbour x4, scripts/soak.py --stand-in) so the run is short; everything else is the real path.
    Medians of the per-second RSS samples, so a trim's sawtooth does not decide it. VSADCVSR_HEAP_TRIM_MB=64 makes
    the bound independent of the machine's speed: with the defaults (a trim every 20 s or per 1 GiB of growth) a fast
    machine served the whole second half within one trim period, a sawtooth tooth of 368 MiB (CI, 2026-12-03)."""
    import statistics
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    vspipe = Path(sys.executable).with_name("vspipe")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "soak.json"
        res = subprocess.run([sys.executable, str(root / "scripts" / "soak.py"), "--frames", str(SOAK_FRAMES),
                              "--size", "128x72", "--stand-in", "--interval", "0.5", "--vspipe", str(vspipe),
                              "--json", str(out)],
                             env={**os.environ, "PYTHONPATH": str(root), "VSADCVSR_HEAP_TRIM_MB": "64"},
                             capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, res.stderr[-3000:]
        samples = json.loads(out.read_text())["samples"]
    # RSS by frames served: the second quarter of the run against the last quarter
    mid = [r for _, n, r in samples if SOAK_FRAMES * 0.25 <= n < SOAK_FRAMES * 0.5]
    end = [r for _, n, r in samples if n >= SOAK_FRAMES * 0.75]
    assert mid and end, samples
    growth = statistics.median(end) - statistics.median(mid)
    assert growth < 150, f"RSS median grew {growth:.0f} MiB from the second to the last quarter of the run"


SOAK_FRAMES = 1600
