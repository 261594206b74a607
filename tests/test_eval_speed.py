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

    from vsadcvsr.eval.benchmark import check_methods
    from vsadcvsr.eval.methods import parse_method

    root = Path(__file__).resolve().parents[1]
    assert parse_method("ours-compact@bf16+system-heap").config == "compact"
    for text, precision, env in (("ours-compact", "fp32", {}), ("ours-compact@bf16", "bf16", {}),
                                 ("ours-tiny@system-heap", "fp32", {"VSADCVSR_HEAP": "system"}),
                                 ("ours-compact@bf16+system-heap", "bf16", {"VSADCVSR_HEAP": "system"})):
        spec = parse_method(text)
        assert spec.ours and (spec.precision, spec.env()) == (precision, env), text
    spec = parse_method("ours-compact@openvino+bf16")
    assert (spec.precision, spec.env(), spec.backend) == ("bf16", {}, "openvino")
    assert parse_method("ours-compact@onnxruntime").backend == "onnxruntime"
    assert parse_method("ours-compact@bf16").backend == "torch"
    with pytest.raises(ValueError, match="bf17"):
        parse_method("ours-compact@bf17")
    check_methods(["lanczos", "ours-tiny@fp16", "ours:default@bf16", "realesrgan-x4plus"])
    with pytest.raises(ValueError, match="ours-2d"):
        check_methods(["ours-2d:default"])
    for bad, message in (("ours-compact@bf17", "unknown option 'bf17'"), ("nosuch", "unknown method 'nosuch'"),
                         ("lanczos@bf16", "apply to ours methods only")):
        res = subprocess.run([sys.executable, str(root / "scripts" / "benchmark.py"), "--sections", "speed",
                              "--methods", bad], capture_output=True, text=True, timeout=120)
        assert res.returncode == 2 and message in res.stderr, (bad, res.stderr)


def test_gpu_section_jobs_time_the_paper_network_at_its_protocol_size_and_skip_cpu_peers() -> None:
    from vsadcvsr.eval.benchmark import GPU_METHODS, gpu_jobs
    from vsadcvsr.eval.methods import parse_method

    sizes = [(320, 180), (480, 270)]
    jobs = gpu_jobs(["ours:default@fp16+compile", "ours-adcvsr@fp16", "realesrgan-x4plus"], sizes)
    assert jobs == [("ours:default@fp16+compile", (320, 180)), ("ours:default@fp16+compile", (480, 270)),
                    ("ours-adcvsr@fp16", (128, 128))]
    spec = parse_method(jobs[0][0])
    assert (spec.precision, spec.compile, spec.backend) == ("fp16", True, "torch")
    assert parse_method("ours:default@fp16+tensorrt").backend == "tensorrt"
    assert len(gpu_jobs(list(GPU_METHODS), sizes)) == 4 * 2 + 3  # every default name parses
