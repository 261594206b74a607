"""Timing helpers of vsadcvsr.eval.speed."""
from __future__ import annotations

import time

import numpy as np

from vsadcvsr.eval.speed import current_rss_mib, peak_rss_mib, time_runs


def test_time_runs_reports_the_median_of_the_timed_runs() -> None:
    calls = []
    t = time_runs(lambda: calls.append(1), repeats=5)
    assert len(calls) == 6 and len(t.runs) == 5 and not t.warmup_counted
    assert t.median >= 0


def test_time_runs_stops_at_its_budget() -> None:
    t = time_runs(lambda: time.sleep(0.02), repeats=50, budget_s=0.05)
    assert 1 <= len(t.runs) <= 3


def test_a_slow_warmup_is_the_only_run() -> None:
    calls = []
    t = time_runs(lambda: (calls.append(1), time.sleep(0.03)), repeats=3, slow_s=0.01)
    assert len(calls) == 1 and t.warmup_counted and t.runs == (t.warmup,)


def test_peak_rss_grows_with_a_large_allocation() -> None:
    before = peak_rss_mib()
    a = np.ones(64 * 1024 * 1024 // 8)  # 64 MiB, touched
    assert peak_rss_mib() >= before
    assert current_rss_mib() > 60
    del a


def test_peak_rss_of_a_child_is_its_own(tmp_path) -> None:
    import sys

    from vsadcvsr.eval.speed import run_watching_memory

    big = np.ones(200 * 1024 * 1024 // 8)  # the parent holds 200 MiB; the child must not report it
    code = "import time; a = bytearray(80 * 2**20); time.sleep(0.5)"
    rc, _, _, seconds, peak = run_watching_memory([sys.executable, "-c", code], timeout=30)
    assert rc == 0 and seconds >= 0.5
    assert 70 < peak < 190
    del big


def test_benchmark_method_options_pick_precision_and_heap() -> None:
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "scripts"))
    from benchmark import ours_config, ours_options

    assert ours_config("ours-compact@bf16+system-heap") == "compact"
    assert ours_options("ours-compact") == ("fp32", {})
    assert ours_options("ours-compact@bf16") == ("bf16", {})
    assert ours_options("ours-tiny@system-heap") == ("fp32", {"VSADCVSR_HEAP": "system"})
    assert ours_options("ours-compact@bf16+system-heap") == ("bf16", {"VSADCVSR_HEAP": "system"})
    with pytest.raises(ValueError, match="bf17"):
        ours_options("ours-compact@bf17")
    res = subprocess.run([sys.executable, str(root / "scripts" / "benchmark.py"), "--sections", "speed",
                          "--methods", "ours-compact@bf17"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "unknown option 'bf17'" in res.stderr
