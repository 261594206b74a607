"""adcvsr-ffmpeg --cluster on a REAL local Ray cluster (one head, 2 CPUs: 2 one-core workers), real FFmpeg, the
real default model, on a real clip of three shots: bikes.mp4 frames 0-99 at 96x40 (cuts at frames 30 and 76)
with AAC audio, SRT subtitles, chapters and a title added by FFmpeg; FFV1 output so frames compare exactly.

With --segment-frames 25 the plan is [0, 30) [30, 50) [50, 76) [76, 100): the boundaries near 25 and 75 move to
the cuts at 30 and 76, the one at 50 has no cut within 6 frames and stays inside a shot. The one-process
reference runs with one torch thread like each worker (float sums depend on the thread split).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

pytest.importorskip("ray")

from conftest_ffmpeg import BIKES, FAKE_ENGINE_BOOT, TESTS, ff, packets_digest, video_info  # noqa: E402

from ffmpeg_filter.probe import probe  # noqa: E402
from ffmpeg_filter.segments import _packets, plan_segments  # noqa: E402

ROOT = TESTS.parent
BOUNDS = [0, 30, 50, 76]
#: frames whose windows reach across the in-shot boundary at 50 (window 16, overlap 4: windows [36, 52) and
#: [48, 64) are cut at 50 in the segments but not in one run); elsewhere the frames must be bit-equal
NEAR_50 = range(36, 64)
HEAD_PID: dict[str, int] = {}  # the Ray head's PID (its session id) per address


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    # token auth off: a token another local Ray left in ~/.ray would otherwise be required (loopback only here)
    return {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _stat(pid: int | str) -> list[str]:
    """Fields of /proc/PID/stat after the command name: state, ppid, pgrp, session, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _session(sid: int) -> list[int]:
    """PIDs of the processes in session `sid` (the Ray head's: `ray start`, raylet, GCS, workers)."""
    out = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and int(_stat(d.name)[3]) == sid:
                out.append(int(d.name))
        except (OSError, ValueError, IndexError):
            pass
    return out


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cluster_clip")
    (d / "subs.srt").write_text("1\n00:00:00,500 --> 00:00:01,500\nfirst\n\n2\n00:00:02,000 --> 00:00:03,200\n"
                                "second\n")
    (d / "meta.txt").write_text(";FFMETADATA1\ntitle=Bikes test\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1500\n"
                                "title=One\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=1500\nEND=4000\ntitle=Two\n")
    out = d / "film.mkv"
    ff("-i", str(BIKES), "-f", "lavfi", "-i", "sine=f=440:d=4", "-i", str(d / "subs.srt"), "-i", str(d / "meta.txt"),
       "-frames:v", "100", "-map", "0:v", "-map", "1:a", "-map", "2:s", "-map_metadata", "3", "-map_chapters", "3",
       "-vf", "scale=96:40", "-c:v", "libx264", "-g", "250", "-c:a", "aac", "-c:s", "srt", str(out))
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> str:
    """A Ray head with 2 CPUs in a session of its own (`ray start --block`); stopped by the PIDs in that session."""
    port = _free_port()
    temp = Path(f"/tmp/ray_adcvsr_{os.getpid()}")  # Ray's socket paths must stay short
    log = tmp_path_factory.mktemp("ray") / "head.log"
    with open(log, "wb") as f:
        head = subprocess.Popen(
            [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--num-cpus", "2",
             "--num-gpus", "0", "--port", str(port), "--include-dashboard", "false", "--temp-dir", str(temp),
             "--disable-usage-stats"],
            env=_env(), stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        probe_code = ("import ray; ray.init(address=%r, logging_level='ERROR'); "
                      "import sys; sys.exit(0 if ray.cluster_resources().get('CPU') == 2 else 1)" % address)
        deadline = time.monotonic() + 120
        while True:
            if head.poll() is not None:
                raise RuntimeError(f"ray start failed:\n{log.read_text()[-2000:]}")
            if subprocess.run([sys.executable, "-c", probe_code], env=_env(), capture_output=True).returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head did not come up:\n{log.read_text()[-2000:]}")
            time.sleep(1)
        HEAD_PID[address] = head.pid
        yield address
    finally:
        head.terminate()  # `ray start --block` stops what it started
        try:
            head.wait(timeout=15)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        for pid in _session(head.pid):  # anything left of this head's session
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(temp, ignore_errors=True)


def cli(*args: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ffmpeg_filter.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=kw.pop("env", _env()), timeout=timeout, **kw)


def cluster_args(address: str, seg_dir: Path) -> list[str]:
    return ["--cluster", address, "--segment-dir", str(seg_dir), "--segment-frames", "25", "--worker-cores", "1",
            "-c:v", "ffv1"]


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def chapters(path: Path) -> list[tuple]:
    with av.open(str(path)) as c:
        return [(ch["start"], ch["end"], ch["metadata"].get("title")) for ch in c.chapters()]


@pytest.fixture(scope="module")
def one_process(film, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "one.mkv"
    r = cli("-q", str(film), str(out), "-c:v", "ffv1", env={**_env(), "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def cluster_run(film, cluster, tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    d = tmp_path_factory.mktemp("run")
    out, seg_dir = d / "film_x4.mkv", d / "segments"
    r = cli(str(film), str(out), *cluster_args(cluster, seg_dir))
    return out, seg_dir, r


# ------------------------------------------------------------------------------------------------- the planner
def test_the_plan_moves_boundaries_to_sure_cuts(film):
    spans = plan_segments(probe(film), 25, 0.1)
    assert [(s.first, s.stop, s.at_cut) for s in spans] == [
        (0, 30, True), (30, 50, True), (50, 76, False), (76, 100, True)]
    assert [(s.first, s.stop) for s in plan_segments(probe(film), 40, 0.1)] == [(0, 30), (30, 76), (76, 100)]
    # scene detection off: the nominal places, or a keyframe within reach (6 frames) where there is one
    keys = _packets(film)[1]
    firsts = [s.first for s in plan_segments(probe(film), 25, 0.0)]
    assert len(firsts) == 4 and firsts[0] == 0
    for b, first in zip((25, 50, 75), firsts[1:]):
        near = [k for k in keys if abs(k - b) <= 6]
        assert first in near if near else first == b


# ---------------------------------------------------------------------------------------------- cluster runs
def test_cluster_output_equals_a_one_process_run(cluster_run, one_process):
    out, seg_dir, r = cluster_run
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert "100/100 frames" in r.stderr and r.stderr.count("done") == 1  # one progress line for the film
    assert sorted(p.name for p in seg_dir.glob("seg-*")) == [f"seg-0000{i}.mkv" for i in range(4)]
    a, b = video_info(out), video_info(one_process)
    assert a["frames"] == b["frames"] == 100
    assert a["times"] == pytest.approx(b["times"], abs=1e-6)
    assert a["streams"] == b["streams"] and [t for t, _ in a["streams"]] == ["video", "audio", "subtitle"]
    assert a["metadata"].get("title") == "Bikes test"
    assert chapters(out) == chapters(one_process) == [(0, 1_500_000_000, "One"), (1_500_000_000, 4_000_000_000, "Two")]
    assert packets_digest(out, "audio") == packets_digest(one_process, "audio")
    assert packets_digest(out, "subtitles") == packets_digest(one_process, "subtitles")
    fa, fb = frames(out), frames(one_process)
    differ = [n for n in range(100) if not np.array_equal(fa[n], fb[n])]
    assert not [n for n in differ if n not in NEAR_50], differ  # segments starting at cuts 30 and 76: exact
    assert max(int(np.abs(fa[n].astype(int) - fb[n]).max()) for n in range(100)) < 64


def test_a_rerun_with_other_settings_is_refused_naming_them(cluster_run, film, cluster, tmp_path):
    _, seg_dir, r0 = cluster_run
    assert r0.returncode == 0
    r = cli(str(film), str(tmp_path / "x.mkv"), *cluster_args(cluster, seg_dir), "--window", "8", "--overlap", "2")
    assert r.returncode == 1
    assert "holds segments of another job" in r.stderr and "overlap, " in r.stderr and "window" in r.stderr
    assert not (tmp_path / "x.mkv").exists()


def test_a_segment_failing_every_try_is_named_and_a_rerun_redoes_only_it(cluster_run, film, cluster, tmp_path):
    out0, seg_dir0, r0 = cluster_run
    assert r0.returncode == 0
    seg_dir = tmp_path / "segments"
    shutil.copytree(seg_dir0, seg_dir)
    (seg_dir / "seg-00002.mkv").unlink()
    (seg_dir / "seg-00002.mkv").mkdir()  # the segment cannot be written: every try fails
    kept = {p.name: p.stat().st_mtime_ns for p in seg_dir.glob("seg-*.mkv") if p.is_file()}
    out = tmp_path / "film_x4.mkv"
    r = cli(str(film), str(out), *cluster_args(cluster, seg_dir))
    assert r.returncode == 1
    assert "segment 2 (frames 50-75) failed 3 times" in r.stderr and "is a directory" in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".film_x4*"))
    assert {p.name: p.stat().st_mtime_ns for p in seg_dir.glob("seg-*.mkv") if p.is_file()} == kept
    (seg_dir / "seg-00002.mkv").rmdir()
    r = cli(str(film), str(out), *cluster_args(cluster, seg_dir))
    assert r.returncode == 0, r.stderr
    assert all((seg_dir / n).stat().st_mtime_ns == t for n, t in kept.items())  # not redone
    assert (seg_dir / "seg-00002.mkv").is_file()
    assert all(np.array_equal(x, y) for x, y in zip(frames(out), frames(out0)))


def _busy_worker(head_pid: int, timeout: float = 300) -> int:
    """The PID of a worker of this test's Ray head running a segment, its FFmpeg processes started (mid-segment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = _session(head_pid)
        for pid in pids:
            try:
                if not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::SegmentWorker.run"):
                    continue
                kids = [k for k in pids if int(_stat(k)[1]) == pid]
                if any(b"ffmpeg" in Path(f"/proc/{k}/cmdline").read_bytes() for k in kids):
                    return pid
            except (OSError, ValueError, IndexError):
                continue
        time.sleep(0.2)
    raise AssertionError("no busy worker found")


def test_a_worker_killed_mid_segment_is_replaced_and_the_output_is_the_same(cluster_run, film, cluster, tmp_path):
    out0, seg_dir0, r0 = cluster_run
    assert r0.returncode == 0
    seg_dir = tmp_path / "segments"
    shutil.copytree(seg_dir0, seg_dir)
    for i in (1, 2):  # two segments to do, one per worker
        (seg_dir / f"seg-0000{i}.mkv").unlink()
    out = tmp_path / "film_x4.mkv"
    proc = subprocess.Popen([sys.executable, "-m", "ffmpeg_filter.cli", str(film), str(out),
                             *cluster_args(cluster, seg_dir)], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(2):  # a segment of 96x40 frames takes about a second: a worker may finish before the kill
            victim = _busy_worker(HEAD_PID[cluster], timeout=120)
            time.sleep(0.1)
            try:
                os.kill(victim, signal.SIGKILL)
                break
            except ProcessLookupError:  # done already: the other worker's segment then
                continue
        else:
            raise AssertionError("both workers finished their segments before either could be killed")
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "its worker died" in stderr and "retrying" in stderr
    assert not (seg_dir / ".tmp").exists() or not [p for p in (seg_dir / ".tmp").iterdir() if p.suffix == ".mkv"
                                                      and not p.name.startswith(".")]
    assert all(np.array_equal(x, y) for x, y in zip(frames(out), frames(out0)))
    assert len(frames(out)) == 100


# ----------------------------------------------------------------------------------------------- refusals
def test_an_unreachable_address_fails_before_any_work(film, tmp_path):
    port = _free_port()
    t0 = time.monotonic()
    r = cli(str(film), str(tmp_path / "out.mkv"), "--cluster", f"127.0.0.1:{port}", "--segment-dir",
            str(tmp_path / "segs"))
    assert r.returncode == 1
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in r.stderr
    assert time.monotonic() - t0 < 60
    assert not (tmp_path / "segs").exists() and not (tmp_path / "out.mkv").exists()


def test_cuda_on_a_cluster_without_gpus_is_refused_before_any_segment(film, cluster, tmp_path):
    r = cli(str(film), str(tmp_path / "out.mkv"), *cluster_args(cluster, tmp_path / "segs"), "--device", "cuda")
    assert r.returncode == 1 and f"--device cuda: the Ray cluster at {cluster} has no GPU" in r.stderr, r.stderr
    assert not list((tmp_path / "segs").glob("seg-*")) and not (tmp_path / "out.mkv").exists()


@pytest.mark.parametrize("args,message", [
    (["--cluster", "local"], "--cluster needs --segment-dir"),
    (["--segment-dir", "segs"], "--segment-dir needs --cluster"),
    (["--cluster", "local", "--segment-dir", "s", "--start", "10"], "--start/--end cannot be used with --cluster"),
    (["--cluster", "local", "--segment-dir", "s", "--allow-lost-frames"],
     "--allow-lost-frames cannot be used with --cluster"),
    (["--cluster", "local", "--segment-dir", "s", "--segment-frames", "0"], "--segment-frames must be at least 1"),
    (["--cluster", "local", "--segment-dir", "s", "--worker-cores", "0"], "--worker-cores must be at least 1"),
    (["--cluster", "local", "--segment-dir", "s", "--worker-cores", "two"], "invalid int value"),
])
def test_usage_errors_exit_2(film, tmp_path, capsys, args, message):
    from ffmpeg_filter.cli import main

    with pytest.raises(SystemExit) as e:
        main([str(film), str(tmp_path / "out.mkv"), *args])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cluster_to_stdout_is_a_usage_error(film, capsys):
    from ffmpeg_filter.cli import main

    with pytest.raises(SystemExit) as e:
        main([str(film), "-", "--cluster", "local", "--segment-dir", "s"])
    assert e.value.code == 2 and "not stdout" in capsys.readouterr().err


def test_a_normal_run_does_not_import_ray(film, tmp_path):
    code = FAKE_ENGINE_BOOT.format(tests=str(TESTS), delay=0.0).replace(
        "sys.exit(main(sys.argv[1:]))",
        "rc = main(sys.argv[1:]); print('ray imported' if 'ray' in sys.modules else 'no ray', file=sys.stderr); "
        "sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, "-q", str(film), str(tmp_path / "o.mkv"), "--end", "5"],
                       capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "no ray" in r.stderr
