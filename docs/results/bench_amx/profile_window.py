"""Where one window's time goes on the CPU (issue #15): `Upscaler.upscale_window` on 8 frames of bikes.mp4 at
320x180 -> 1280x720, 2 threads, under torch.profiler; the operators' own time summed by part of the path, in ms per
output frame, with a 2048³ bf16 matmul rate taken right before (shared machines vary).

    python docs/results/bench_amx/profile_window.py [--precision bf16|fp32|int8]
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from vsadcvsr.engine import Upscaler
from vsadcvsr.eval.benchmark import natural_frames

# operator (and input shape, where the same operator serves two parts) -> part of the path
PARTS = (
    ("3x3 convolutions 64->64 (body)", lambda name, shape: "convolution" in name and "[64, 64, 3, 3]" in shape
     or name == "quantized::conv2d" and "[8, 64," in shape),
    ("PReLU", lambda name, shape: "prelu" in name),
    ("temporal blocks", lambda name, shape: "_convolution_pointwise" in name or "conv3d" in name
     or ("[64, 64, 3, 1, 1]" in shape)),
    ("output convolution", lambda name, shape: "convolution" in name and "[48, 64, 3, 3]" in shape),
    ("input convolution", lambda name, shape: "[64, 3, 3, 3]" in shape or name == "quantized::conv2d"),
    ("colour fix and output (720p, per frame)", lambda name, shape: "720, 12" in shape or "71" in shape
     or "[48, 1, 5, 5]" in shape or "[1, 48, 180, 320]" in shape),
    ("picture (PixelShuffle, sum)", lambda name, shape: "pixel_shuffle" in name or "16, 200, 340" in shape),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--precision", default="bf16", choices=("bf16", "fp32", "int8"))
    a = ap.parse_args()
    torch.set_num_threads(2)
    frames = torch.from_numpy(natural_frames(8, 320, 180)).permute(0, 3, 1, 2).float().div(255)
    up = Upscaler("default", precision=a.precision)
    for _ in range(2):
        up.upscale_window(frames)
    m, n = torch.randn(2048, 2048, dtype=torch.bfloat16), torch.randn(2048, 2048, dtype=torch.bfloat16)
    m @ n
    t = time.perf_counter()
    m @ n
    rate = 2 * 2048**3 / (time.perf_counter() - t) / 1e9
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        t = time.perf_counter()
        up.upscale_window(frames)
        wall = time.perf_counter() - t
    parts: dict[str, float] = defaultdict(float)
    for e in prof.key_averages(group_by_input_shape=True):
        shape = str(e.input_shapes)
        part = next((p for p, match in PARTS if match(e.key, shape)), "other")
        parts[part] += e.self_cpu_time_total / 1e3 / len(frames)
    total = sum(parts.values())
    print(f"{a.precision}: {wall / len(frames) * 1e3:.1f} ms/frame under the profiler (operators {total:.1f}); "
          f"bf16 matmul {rate:.0f} GFLOP/s just before")
    for part, ms in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {part:45s} {ms:6.1f} ms/frame  {100 * ms / total:4.1f} %")


if __name__ == "__main__":
    main()
