"""compile=True against the engine's usual path, side by side in one process (issue #15): two `Upscaler`s on the
default model in one precision (fp32 unless --precision), one with `compile=True`, alternating window by window in
interleaved rounds; windows of real video (bikes.mp4 frames) at 320x180 -> 1280x720, 2 threads. Prints the compile
time, each round's s/frame, the medians, their ratio, the per-round ratios and the largest difference of the outputs.

    python scripts/probe_compile.py [ROUNDS] [--frames N] [--size WxH] [--precision P]   # 5 rounds, 8 frames, 320x180
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)
import torch

from vsadcvsr.engine import Upscaler
from vsadcvsr.eval.benchmark import natural_frames


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rounds", type=int, nargs="?", default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--frames", type=int, default=8, help="frames per window (default 8)")
    ap.add_argument("--size", default="320x180", help="input size WxH (default 320x180)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16", "auto"),
                    help="both upscalers' precision (default fp32)")
    a = ap.parse_args(argv)
    w, h = (int(v) for v in a.size.split("x"))
    torch.set_num_threads(a.threads)
    x = torch.from_numpy(natural_frames(a.frames, w, h)).permute(0, 3, 1, 2).float().div(255)
    ups = {"eager": Upscaler("default", precision=a.precision),
           "compile": Upscaler("default", precision=a.precision, compile=True)}
    t0 = time.perf_counter()
    ups["compile"].upscale_window(x)
    ref = ups["compile"].upscale_window(x)  # the shape's second window: compiled here
    first_two = time.perf_counter() - t0
    compiled = ups["compile"].compiled
    assert compiled is not None
    if not compiled.compiled:
        print(f"not compiled: {compiled.failed}", file=sys.stderr)
        return 1
    diff = (ref - ups["eager"].upscale_window(x)).abs().max().item()
    rows: dict[str, list[float]] = {k: [] for k in ups}
    for _ in range(a.rounds):
        for name, up in ups.items():
            t = time.perf_counter()
            up.upscale_window(x)
            rows[name].append((time.perf_counter() - t) / a.frames)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{a.frames} frames {w}x{h} -> {4 * w}x{4 * h}, {a.threads} threads, {ups['eager'].dtype}; "
          "first two compile=True windows "
          f"{first_two:.0f} s (the second compiles); max |diff| {diff:.2e} (0-1 pixels)")
    for k, v in rows.items():
        print(f"{k:8s} " + " ".join(f"{s:.3f}" for s in v) + f"  median {med[k]:.3f} s/frame")
    ratios = [e / c for e, c in zip(rows["eager"], rows["compile"])]
    print(f"eager/compile {med['eager'] / med['compile']:.2f}x on the medians; per round "
          + " ".join(f"{r:.2f}" for r in ratios) + f", median {statistics.median(ratios):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
