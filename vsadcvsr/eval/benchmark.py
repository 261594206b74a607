"""Speed and memory of x4 upscalers on this machine: one run, same input, one subprocess per measurement.

Sections (each writes a table to --out/benchmark.md and raw rows to --out/benchmark.json):
  speed    seconds per frame (median of timed runs after a warm-up) and peak RSS for ours (tiny and paper-size
           `adcvsr`, random weights, through the engine), the ncnn peers and OpenCV Lanczos, at 320x180 -> 1280x720
           and 480x270 -> 1920x1080; ratios to the fastest peer
  scaling  how cost grows for ours (tiny): time and memory against frame size, and against clip length through
           `upscale_stream` (memory must stay flat); plots cost_vs_size.png and cost_vs_length.png
  adapters the VapourSynth filter through `vspipe` and the FFmpeg bridge against the bare engine on the same clip,
           end to end (process start to exit); "not available" when an adapter cannot be imported
  gpu      fp32/fp16/bf16 and the paper's protocol (25 frames, 512x512 output), tiny and compact by frame size;
           skipped without CUDA

  python scripts/benchmark.py --out docs/results/bench            # everything (about 15 min on 2 cores)
  python scripts/benchmark.py --sections scaling adapters --quick  # small and fast

Methods are named as everywhere (`vsadcvsr.eval.methods.parse_method`); ours-CONFIG has random weights (speed
does not depend on the values). Each measurement runs in its own process, `python -m vsadcvsr.eval.benchmark JOB`.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .methods import PEERS, MethodSpec, parse_method

log = logging.getLogger("benchmark")
SCALE = 4
DEFAULT_METHODS = ("lanczos", "ours-tiny", "ours-adcvsr", *PEERS)
SECTIONS = ("speed", "scaling", "adapters", "gpu")
THREADS = 0  # --threads: 0 leaves torch's default


def _env() -> dict[str, str]:
    """Environment of every measured process: with --threads, OMP_NUM_THREADS too (vspipe, FFmpeg bridge)."""
    env = dict(os.environ)
    if THREADS:
        env["OMP_NUM_THREADS"] = str(THREADS)
    return env


# ---- inputs -------------------------------------------------------------------------------------------------

def natural_frames(n: int, w: int, h: int) -> "Any":
    """n frames of real video (bikes.mp4, resized with area averaging) as (n, h, w, 3) uint8; photos otherwise."""
    import cv2
    import numpy as np

    try:
        from vsadcvsr.eval.clips import bikes_path, read_frames

        src = read_frames(bikes_path(), 137, 137 + n)
    except (FileNotFoundError, ValueError):
        from skimage import data

        src = np.stack([np.roll(data.astronaut(), 3 * i, axis=1) for i in range(n)])
    reps = -(-n // len(src))
    src = np.concatenate([src] * reps)[:n]
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in src])


def random_checkpoint(config: str, folder: Path) -> Path:
    """A checkpoint of the network `config` names, with random weights (speed does not depend on the values),
    written once by a worker process so that this process stays small."""
    path = folder / f"{config}_random.safetensors"
    if not path.exists():
        r = run_worker({"mode": "checkpoint", "config": config, "path": str(path)}, timeout=900)
        if "error" in r:
            raise RuntimeError(f"cannot build a random {config} checkpoint: {r['error']}")
    return path


def checkpoint_of(spec: MethodSpec, folder: Path) -> Path:
    """The checkpoint an ours method runs: random weights of its configuration, or its model."""
    if spec.config is not None:
        return random_checkpoint(spec.config, folder)
    from vsadcvsr.checkpoint import resolve_model_path

    return resolve_model_path(spec.model or "default")


def work_checkpoint(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    from vsadcvsr.checkpoint import save_checkpoint
    from vsadcvsr.model import build_model, get_config

    torch.manual_seed(0)
    cfg = get_config(job["config"])
    save_checkpoint(job["path"], build_model(cfg).state_dict(), cfg, provenance="random weights for benchmarking",
                    licence="n/a")
    return {"path": job["path"]}


def write_clip(path: Path, frames: "Any", fps: int = 25) -> Path:
    """Lossless H.264 (yuv444p, QP 0) file of RGB frames, through imageio-ffmpeg's FFmpeg."""
    import imageio_ffmpeg

    t, h, w, _ = frames.shape
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-qp", "0",
           "-pix_fmt", "yuv444p", str(path)]
    subprocess.run(cmd, input=frames.tobytes(), check=True)
    return path


# ---- workers (each in its own process, so that peak memory is its own) ---------------------------------------

def _engine_upscaler(job: dict[str, Any]) -> "Any":
    from vsadcvsr.engine import Upscaler
    from vsadcvsr.material import INT8_CALIBRATION

    return Upscaler(model=job["checkpoint"], device=job.get("device", "cpu"), precision=job.get("precision", "fp32"),
                    backend=job.get("backend", "torch"), compile=job.get("compile", False),
                    calibration=INT8_CALIBRATION)


def work_speed(job: dict[str, Any]) -> dict[str, Any]:
    """s/frame of one method at one size: frames per run = job["frames"] (ours: one window of that many)."""
    from vsadcvsr.eval.speed import current_rss_mib, peak_rss_mib, time_runs

    w, h = job["size"]
    frames = natural_frames(job["frames"], w, h)
    method = job["method"]
    extra: dict[str, Any] = {}
    if parse_method(method).ours:
        import torch

        up = _engine_upscaler(job)
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255.0)
        extra["tile"] = up.settings.tile[0] or up.auto_tile(len(x), h, w)
        cuda = up.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats()

        def fn() -> None:
            up.upscale_window(x)
            if cuda:
                torch.cuda.synchronize()

        if up.compiled is not None:  # the second window of a shape compiles it: both before the warm-up run
            t0 = time.perf_counter()
            fn()
            fn()
            extra["compile_s"] = time.perf_counter() - t0
    else:
        from vsadcvsr.eval.methods import build_method

        m = build_method(method)
        if hasattr(m, "load"):
            m.load()

        def fn() -> None:
            m.upscale(frames)
    loaded = current_rss_mib()
    t = time_runs(fn, repeats=job["repeats"], budget_s=job["budget_s"], slow_s=job["slow_s"])
    res = {"s_per_frame": t.median / len(frames), "runs": len(t.runs), "warmup_counted": t.warmup_counted,
           "warmup_s": t.warmup, "rss_loaded_mib": loaded, "peak_rss_mib": peak_rss_mib(), **extra}
    if parse_method(method).ours and job.get("device", "cpu") != "cpu":
        import torch

        res["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return res


def work_stream(job: dict[str, Any]) -> dict[str, Any]:
    """Ours through `upscale_stream` over a clip of job["length"] frames, outputs discarded as they come."""
    import torch

    from vsadcvsr.engine import upscale_stream
    from vsadcvsr.eval.speed import current_rss_mib, peak_rss_mib

    w, h = job["size"]
    up = _engine_upscaler(job)
    base = torch.from_numpy(natural_frames(8, w, h)).permute(0, 3, 1, 2).float().div(255.0)
    # Warm up on one window so that kernel set-up is not in the figure.
    up.upscale_window(base[:4])
    loaded = current_rss_mib()
    n = job["length"]
    frames = (base[i % len(base)] for i in range(n))
    t0 = time.perf_counter()
    count = 0
    for y in upscale_stream(frames, up, window=job.get("window", 16), overlap=job.get("overlap", 4),
                            scene_threshold=0.0):
        count += int(y.shape[0] == 3)
    total = time.perf_counter() - t0
    return {"frames": count, "seconds": total, "s_per_frame": total / max(count, 1), "rss_loaded_mib": loaded,
            "peak_rss_mib": peak_rss_mib()}


def work_bare(job: dict[str, Any]) -> dict[str, Any]:
    """The bare engine on a file: PyAV decode + `upscale_stream`, outputs discarded; end to end in-process."""
    import av
    import torch

    from vsadcvsr.engine import upscale_stream
    from vsadcvsr.eval.speed import peak_rss_mib

    up = _engine_upscaler(job)

    def frames():
        with av.open(job["clip"]) as c:
            for f in c.decode(video=0):
                yield torch.from_numpy(f.to_ndarray(format="rgb24")).permute(2, 0, 1).float().div(255.0)

    t0 = time.perf_counter()
    n = sum(1 for _ in upscale_stream(frames(), up, window=16, overlap=4, scene_threshold=0.1))
    return {"frames": n, "upscale_s": time.perf_counter() - t0, "peak_rss_mib": peak_rss_mib()}


def work_ffmpeg(job: dict[str, Any]) -> dict[str, Any]:
    """The FFmpeg bridge (`ffmpeg_filter.upscale_file`) on the clip, x264 ultrafast output."""
    from ffmpeg_filter import upscale_file
    from vsadcvsr.eval.speed import peak_rss_mib

    dst = Path(job["tmp"]) / "ffmpeg_out.mkv"
    t0 = time.perf_counter()
    upscale_file(job["clip"], dst, model=job["checkpoint"], encoder_args=["-c:v", "libx264", "-preset", "ultrafast"],
                 overwrite=True, progress=False)
    return {"upscale_s": time.perf_counter() - t0, "peak_rss_mib": peak_rss_mib()}


WORKERS = {"speed": work_speed, "stream": work_stream, "bare": work_bare, "ffmpeg": work_ffmpeg,
           "checkpoint": work_checkpoint}


def run_worker(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Runs one job in a fresh interpreter; its result is the last stdout line (JSON)."""
    from vsadcvsr.eval.speed import run_watching_memory

    job = {"threads": THREADS, **job}
    cmd = [sys.executable, "-m", "vsadcvsr.eval.benchmark", json.dumps(job)]
    try:
        rc, stdout, stderr, wall, tree_peak = run_watching_memory(cmd, timeout, env={**_env(), **job.get("env", {})})
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if rc != 0:
        tail = stderr.strip().splitlines()[-1:] or ["?"]
        return {"error": f"exit {rc}: {tail[0][:300]}", "wall_s": wall}
    out = json.loads(stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    out["peak_tree_mib"] = tree_peak
    return out


# ---- sections -----------------------------------------------------------------------------------------------

def available(name: str) -> str | None:
    """None if the method can run here, else why not."""
    from .methods import MethodUnavailable, build_method

    if parse_method(name).ours:
        try:
            import vsadcvsr.engine  # noqa: F401
        except ImportError as e:
            return f"vsadcvsr.engine not importable ({e})"
        return None
    try:
        build_method(name)
    except MethodUnavailable as e:
        return str(e)
    return None


def section_speed(args: argparse.Namespace, tmp: Path, rows: list[dict[str, Any]], notes: list[str]) -> str:
    methods = [m for m in args.methods]
    estimates: dict[str, float] = {}  # method → s/frame per input pixel, from the last size measured
    lines = []
    for size in args.sizes:
        w, h = size
        lines.append(f"\n### {w}x{h} → {w * SCALE}x{h * SCALE}\n")
        lines.append("| method | s/frame | x fastest peer | speed-up over x4plus | runs | peak RSS (MiB) | "
                     "RSS loaded (MiB) | note |")
        lines.append("|---|---|---|---|---|---|---|---|")
        size_rows = []
        for m in methods:
            why = available(m)
            if why:
                notes.append(f"{m}: not available ({why})")
                continue
            est = estimates.get(m, 0.0) * w * h
            if est > args.max_frame_s:
                size_rows.append({"section": "speed", "method": m, "size": f"{w}x{h}",
                                  "skipped": f"estimated {est:.0f} s/frame > --max-frame-s {args.max_frame_s:.0f}"})
                continue
            spec = parse_method(m)
            job = {"mode": "speed", "method": m, "size": [w, h], "repeats": args.repeats, "budget_s": args.budget_s,
                   "slow_s": args.slow_s, "frames": args.window if spec.ours else 1}
            if spec.config == "adcvsr":  # paper-size: one frame per run
                job["frames"] = 1
            if spec.ours:
                job["checkpoint"] = str(checkpoint_of(spec, tmp))
                job["precision"], job["env"], job["backend"] = spec.precision, spec.env(), spec.backend
                job["compile"] = spec.compile
            log.warning("speed: %s at %dx%d ...", m, w, h)
            r = run_worker(job, timeout=args.timeout)
            r.update({"section": "speed", "method": m, "size": f"{w}x{h}", "frames_per_run": job["frames"]})
            if "s_per_frame" in r:
                estimates[m] = r["s_per_frame"] / (w * h)
            size_rows.append(r)
        peers = [r["s_per_frame"] for r in size_rows if r["method"] in PEERS and "s_per_frame" in r]
        fastest = min(peers) if peers else math.nan
        x4plus = next((r["s_per_frame"] for r in size_rows
                       if r["method"] == "realesrgan-x4plus" and "s_per_frame" in r), math.nan)
        for r in size_rows:
            r["x_fastest_peer"] = r.get("s_per_frame", math.nan) / fastest if peers else math.nan
            r["speedup_over_x4plus"] = x4plus / r.get("s_per_frame", math.nan)
            note = r.get("skipped") or r.get("error") or ""
            if r.get("warmup_counted"):
                note = "one run, warm-up included"
            if "compile_s" in r:
                note = (note + f"; its first two windows (the compile) took {r['compile_s']:.0f} s").strip("; ")
            if "tile" in r and r["tile"]:
                note = (note + f"; tiled {r['tile']}px").strip("; ")
            if parse_method(r["method"]).ours and "frames_per_run" in r:
                weights = "random weights" if parse_method(r["method"]).config else "trained weights"
                note = (note + f"; window of {r['frames_per_run']} frames, {weights}").strip("; ")
            lines.append(f"| {r['method']} | {_f(r.get('s_per_frame'), 3)} | {_f(r.get('x_fastest_peer'), 2)} | "
                         f"{_f(r.get('speedup_over_x4plus'), 1)} | "
                         f"{r.get('runs', '—')} | {_f(r.get('peak_rss_mib'), 0)} | {_f(r.get('rss_loaded_mib'), 0)} "
                         f"| {note} |")
        rows += size_rows
    return "## Speed and memory\n" + "\n".join(lines) + "\n"


def section_scaling(args: argparse.Namespace, tmp: Path, rows: list[dict[str, Any]], notes: list[str]) -> str:
    why = available("ours-tiny")
    if why:
        return f"## How cost grows\n\nnot available: {why}\n"
    ckpt = str(random_checkpoint("tiny", tmp))
    size_rows, length_rows = [], []
    for w, h in args.scaling_sizes:
        log.warning("scaling: frame size %dx%d ...", w, h)
        r = run_worker({"mode": "speed", "method": "ours-tiny", "size": [w, h], "frames": args.window,
                        "repeats": 2, "budget_s": args.budget_s, "slow_s": args.slow_s, "checkpoint": ckpt},
                       timeout=args.timeout)
        r.update({"section": "scaling-size", "size": f"{w}x{h}", "pixels": w * h})
        size_rows.append(r)
    w, h = args.length_size
    for n in args.lengths:
        log.warning("scaling: clip length %d at %dx%d ...", n, w, h)
        r = run_worker({"mode": "stream", "size": [w, h], "length": n, "checkpoint": ckpt}, timeout=args.timeout)
        r.update({"section": "scaling-length", "size": f"{w}x{h}", "length": n})
        length_rows.append(r)
    rows += size_rows + length_rows
    _plot_scaling(args.out, size_rows, length_rows, args.window, (w, h))
    lines = ["## How cost grows (ours, tiny, random weights)\n",
             f"Frame size (one window of {args.window} frames through `Upscaler.upscale_window`):\n",
             "| input | output | s/frame | peak RSS (MiB) | RSS loaded (MiB) |", "|---|---|---|---|---|"]
    for r in size_rows:
        iw, ih = map(int, r["size"].split("x"))
        lines.append(f"| {r['size']} | {iw * SCALE}x{ih * SCALE} | {_f(r.get('s_per_frame'), 3)} | "
                     f"{_f(r.get('peak_rss_mib'), 0)} | {_f(r.get('rss_loaded_mib'), 0)} |")
    lines += ["", f"Clip length (`upscale_stream`, window 16, overlap 4, at {w}x{h} → {w * SCALE}x{h * SCALE}, outputs "
              "discarded as they come):\n", "| frames | total s | s/frame | peak RSS (MiB) | RSS loaded (MiB) |",
              "|---|---|---|---|---|"]
    for r in length_rows:
        lines.append(f"| {r['length']} | {_f(r.get('seconds'), 1)} | {_f(r.get('s_per_frame'), 3)} | "
                     f"{_f(r.get('peak_rss_mib'), 0)} | {_f(r.get('rss_loaded_mib'), 0)} |")
    peaks = [r["peak_rss_mib"] for r in length_rows if math.isfinite(r.get("peak_rss_mib", math.nan))]
    if len(peaks) > 1:
        lines.append(f"\nPeak RSS from {args.lengths[0]} to {args.lengths[-1]} frames: "
                     f"{min(peaks):.0f}–{max(peaks):.0f} "
                     f"MiB ({'flat' if max(peaks) - min(peaks) < 0.1 * min(peaks) else 'NOT flat'}: within "
                     f"{100 * (max(peaks) - min(peaks)) / min(peaks):.0f} %).")
    lines.append("\n![time and memory against frame size](cost_vs_size.png)\n"
                 "![time and memory against clip length](cost_vs_length.png)")
    return "\n".join(lines) + "\n"


def _plot_scaling(out: Path, size_rows: list[dict[str, Any]], length_rows: list[dict[str, Any]], window: int,
                  length_size: tuple[int, int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for rows, xkey, xlabel, name, title in (
        (size_rows, "pixels", "input pixels per frame (x4 output)", "cost_vs_size.png",
         f"ours (tiny): one window of {window} frames"),
        (length_rows, "length", "clip length (frames)", "cost_vs_length.png",
         f"ours (tiny) through upscale_stream at {length_size[0]}x{length_size[1]}"),
    ):
        ok = [r for r in rows if "s_per_frame" in r]
        if not ok:
            continue
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
        xs = [r[xkey] for r in ok]
        ax[0].plot(xs, [r["s_per_frame"] for r in ok], "o-")
        ax[0].set_ylabel("seconds per frame")
        ax[0].set_ylim(bottom=0)
        ax[1].plot(xs, [r["peak_rss_mib"] for r in ok], "o-", label="peak RSS")
        ax[1].plot(xs, [r["rss_loaded_mib"] for r in ok], "s--", label="RSS after loading")
        ax[1].set_ylabel("MiB")
        ax[1].set_ylim(bottom=0)
        ax[1].legend(fontsize=8)
        for a in ax:
            a.set_xlabel(xlabel)
            a.grid(alpha=0.3)
        fig.suptitle(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)


def section_adapters(args: argparse.Namespace, tmp: Path, rows: list[dict[str, Any]], notes: list[str]) -> str:
    why = available("ours-tiny")
    if why:
        return f"## Adapters against the bare engine\n\nnot available: {why}\n"
    ckpt = str(random_checkpoint("tiny", tmp))
    w, h = args.adapter_size
    clip = write_clip(tmp / "adapter_clip.mkv", natural_frames(args.adapter_frames, w, h))
    lines = ["## Adapters against the bare engine (ours, tiny, random weights)\n",
             f"Same clip: {args.adapter_frames} frames of bikes.mp4 at {w}x{h} → {w * SCALE}x{h * SCALE} (lossless "
             "H.264 file); window 16, overlap 4. End to end: process start to exit (Python start-up, imports, model "
             "load, decode, upscale, output). The bare engine decodes with PyAV and discards the frames; vspipe "
             "writes no output (`--`); the FFmpeg bridge encodes x264 ultrafast. The upscale part: from the first "
             "frame requested to the last delivered (vspipe's own figure for the VapourSynth filter).\n",
             "| path | end to end (s), median | x bare engine | upscale part (s) | x bare engine | peak RSS, process "
             "tree (MiB) | runs | note |",
             "|---|---|---|---|---|---|---|---|"]
    base = {"checkpoint": ckpt, "clip": str(clip), "tmp": str(tmp)}
    vspipe = Path(sys.executable).with_name("vspipe")
    try:
        import vapoursynth  # noqa: F401

        from vsadcvsr import Upscale  # noqa: F401
        vs_why = "" if vspipe.exists() and _has_bestsource() else "vspipe or vapoursynth-bestsource missing"
    except Exception as e:  # the filter module may fail at import for any reason while it is being written
        vs_why = f"vsadcvsr.Upscale not importable ({type(e).__name__}: {e})"
    try:
        from ffmpeg_filter import upscale_file  # noqa: F401

        ff_why = ""
    except Exception as e:
        ff_why = f"ffmpeg_filter not importable ({type(e).__name__}: {e})"
    paths = {
        "bare engine (PyAV + upscale_stream)": ("", lambda: run_worker({"mode": "bare", **base}, args.timeout)),
        "VapourSynth filter via vspipe": (vs_why, lambda: _run_vspipe(vspipe, clip, ckpt, tmp, args.timeout)),
        "FFmpeg bridge (upscale_file)": (ff_why, lambda: run_worker({"mode": "ffmpeg", **base}, args.timeout)),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in paths}
    # Interleaved rounds, so that a burst of load from other jobs hits every path alike; medians reported.
    for i in range(args.adapter_rounds):
        for name, (why, fn) in paths.items():
            if not why:
                log.warning("adapters: %s, round %d ...", name, i + 1)
                runs[name].append(fn())
    summary: dict[str, dict[str, Any]] = {}
    for name, (why, _) in paths.items():
        ok = [r for r in runs[name] if "error" not in r]
        if why:
            summary[name] = {"error": f"not available: {why}"}
        elif not ok:
            summary[name] = {"error": runs[name][-1].get("error", "?") if runs[name] else "no run"}
        else:
            med = lambda k: statistics.median(r[k] for r in ok) if all(k in r for r in ok) else math.nan  # noqa: E731
            summary[name] = {"wall_s": med("wall_s"), "upscale_s": med("upscale_s"),
                             "peak_tree_mib": max(r.get("peak_tree_mib", math.nan) for r in ok),
                             "runs": len(ok), "note": ok[-1].get("note", "")}
    bare_wall = summary["bare engine (PyAV + upscale_stream)"].get("wall_s", math.nan)
    bare_up = summary["bare engine (PyAV + upscale_stream)"].get("upscale_s", math.nan)
    for name, r in summary.items():
        rows.append({"section": "adapters", "path": name, **r, "all_runs": runs[name]})
        lines.append(f"| {name} | {_f(r.get('wall_s'), 1)} | {_f(r.get('wall_s', math.nan) / bare_wall, 2)} | "
                     f"{_f(r.get('upscale_s'), 1)} | {_f(r.get('upscale_s', math.nan) / bare_up, 2)} | "
                     f"{_f(r.get('peak_tree_mib'), 0)} | {r.get('runs', 0)} | "
                     f"{r.get('error', r.get('note', ''))} |")
    return "\n".join(lines) + "\n"


def _has_bestsource() -> bool:
    try:
        import vapoursynth as vs

        return hasattr(vs.core, "bs")
    except Exception:
        return False


def _run_vspipe(vspipe: Path, clip: Path, ckpt: str, tmp: Path, timeout: float) -> dict[str, Any]:
    from vsadcvsr.eval.speed import run_watching_memory

    script = tmp / "bench.vpy"
    script.write_text(
        "import vapoursynth as vs\nimport vsadcvsr\n"
        f"clip = vs.core.bs.VideoSource({str(clip)!r})\n"
        f"vsadcvsr.Upscale(clip, model={ckpt!r}, device='cpu').set_output()\n")
    env = dict(_env(), XDG_CONFIG_HOME=str(tmp / "xdg"))
    subprocess.run([str(vspipe.with_name("vapoursynth")), "config"], env=env, capture_output=True)
    try:
        rc, _, stderr, wall, peak = run_watching_memory([str(vspipe), "-p", str(script), "--"], timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if rc != 0:
        return {"error": f"vspipe exit {rc}: {stderr.strip()[-300:]}", "wall_s": wall}
    done = [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("Output ")]
    m = re.search(r" in ([0-9.]+) seconds", done[-1]) if done else None
    return {"wall_s": wall, "peak_tree_mib": peak, "upscale_s": float(m[1]) if m else math.nan,
            "note": done[-1].strip() if done else ""}


#: What the GPU section times when --methods is left alone: the default model in fp32 (TF32), fp16, fp16 compiled
#: and fp16 through TensorRT at each --sizes, and the paper-size network (random weights) in the paper's protocol.
GPU_METHODS = ("ours:default@fp32", "ours:default@fp16", "ours:default@fp16+compile", "ours:default@fp16+tensorrt",
               "ours-adcvsr@fp32", "ours-adcvsr@fp16", "ours-adcvsr@bf16")


def gpu_jobs(methods: list[str], sizes: list[tuple[int, int]]) -> list[tuple[str, tuple[int, int]]]:
    """(method, LR size) pairs of the GPU section: the paper-size network at 128x128 (the paper's 512x512 output),
    every other ours method at each of `sizes`; methods that are not ours (CPU peers) are left out."""
    jobs: list[tuple[str, tuple[int, int]]] = []
    for m in methods:
        spec = parse_method(m)
        if not spec.ours:
            continue
        jobs += [(m, (128, 128))] if spec.config == "adcvsr" else [(m, size) for size in sizes]
    return jobs


def section_gpu(args: argparse.Namespace, tmp: Path, rows: list[dict[str, Any]], notes: list[str]) -> str:
    import torch

    if not torch.cuda.is_available():
        return ("## GPU\n\nskipped: no CUDA device on this machine (fp16/bf16 and the paper's 25-frame 512x512 "
                "protocol run only on a GPU).\n")
    methods = list(GPU_METHODS) if args.methods == list(DEFAULT_METHODS) else args.methods
    lines = ["## GPU: one 25-frame window per run (the paper's protocol at 128x128 → 512x512)\n",
             f"Device: {torch.cuda.get_device_name(0)}; median of up to {args.repeats} timed runs after a warm-up "
             "(compiled methods: after the two windows that compile); upload and download included\n",
             "| method | input | s/frame | ms per 25-frame clip | peak GPU memory (MiB) | note |",
             "|---|---|---|---|---|---|"]
    for m, size in gpu_jobs(methods, args.sizes):
        spec = parse_method(m)
        job = {"mode": "speed", "method": m, "size": list(size), "frames": 25, "repeats": args.repeats,
               "budget_s": args.budget_s, "slow_s": 120, "device": "cuda", "precision": spec.precision,
               "backend": spec.backend, "compile": spec.compile, "env": spec.env(),
               "checkpoint": str(checkpoint_of(spec, tmp))}
        r = run_worker(job, timeout=args.timeout)
        r.update({"section": "gpu", "method": m, "precision": spec.precision, "size": list(size)})
        rows.append(r)
        spf = r.get("s_per_frame", math.nan)
        note = r.get("error", "")
        if "compile_s" in r:
            note = f"the two windows that compiled took {r['compile_s']:.0f} s"
        lines.append(f"| {m} | {size[0]}x{size[1]} | {_f(spf, 4)} | {_f(spf * 25 * 1000, 0)} "
                     f"| {_f(r.get('peak_gpu_mib'), 0)} | {note} |")
        print("gpu:", lines[-1], file=sys.stderr, flush=True)  # progress, in case the run is cut short
    return "\n".join(lines) + "\n"


def _f(v: Any, digits: int) -> str:
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return "—"
    return f"{v:.{digits}f}"


def machine() -> str:
    import torch

    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    threads = THREADS or torch.get_num_threads()
    return (f"{platform.machine()} {cpu}, {os.cpu_count()} cores (torch threads in workers: {threads}"
            f"{'' if THREADS else ', the default'}), "
            f"Python {platform.python_version()}, torch {torch.__version__}, CUDA "
            f"{'yes: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no'}; "
            f"load average at start {load[0]:.1f}")


def check_methods(methods: list[str]) -> None:
    """ValueError naming the first method the benchmark cannot time (an unknown name or option, ours-2d, a colour
    fix other than the default)."""
    for m in methods:
        spec = parse_method(m)
        if spec.ours and (spec.kind != "ours" or spec.colour_fix is not None):
            raise ValueError(f"{m!r}: the benchmark times ours-CONFIG and ours:MODEL (with @options) only")


def run(args: argparse.Namespace, command: str) -> str:
    """Runs the sections `args` asks for (the options of scripts/benchmark.py), writes benchmark.md and
    benchmark.json to args.out and returns the Markdown report."""
    global THREADS
    if args.quick:
        args.sizes, args.repeats, args.budget_s = [(64, 36)], 1, 5.0
        args.scaling_sizes, args.lengths, args.length_size = [(32, 32), (64, 48)], [4, 12], (32, 32)
        args.adapter_frames, args.adapter_size, args.window, args.adapter_rounds = 6, (64, 32), 4, 1
    THREADS = args.threads
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    parts = [f"# Benchmark\n\nCommand: `{command}`\n\nMachine: {machine()}\n"]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="vsadcvsr-bench-") as tmp:
        for name in args.sections:
            fn = {"speed": section_speed, "scaling": section_scaling, "adapters": section_adapters,
                  "gpu": section_gpu}[name]
            parts.append(fn(args, Path(tmp), rows, notes))
            (args.out / "benchmark.json").write_text(json.dumps(rows, indent=1, default=str))
    if notes:
        parts.append("Notes:\n\n" + "\n".join(f"- {n}" for n in dict.fromkeys(notes)) + "\n")
    parts.append(f"Total benchmark time: {time.time() - started:.0f} s.\n")
    text = "\n".join(parts)
    (args.out / "benchmark.md").write_text(text)
    return text


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    if job.get("threads") and (parse_method(job.get("method", "ours-tiny")).ours or job["mode"] != "speed"):
        import torch  # only where torch runs: a peer's memory figure must not include torch

        torch.set_num_threads(job["threads"])
    return WORKERS[job["mode"]](job)


if __name__ == "__main__":  # a worker: its result is the last line on stdout, for run_worker
    print(json.dumps(worker(json.loads(sys.argv[1]))))
