"""The engine's CPU path before and after the fused inference paths of 2026-12-05 (issue #15), side by side in one
process: `Upscaler.upscale_window` on 8-frame windows of bikes.mp4 frames at 320x180 -> 1280x720, 2 threads,
alternating window by window:

- "before": the temporal blocks as plain operations (zero-padded Conv3d, edge taps added, ReLU, residual sum),
  the picture upsampled before the sum, the colour fix's bicubic upscale by `F.interpolate` (the code of
  d70b3f1, restored here by switching the three new paths off);
- "after": the fused oneDNN temporal blocks (`layers.TemporalBlock._fused`), `compact.add_detail`,
  `colour_fix.bicubic_up`;
- "int8": `precision="int8"` with the new paths.

Each round also times a 2048³ matmul in the chosen precision, so that a round's figures can be read against what
the cores gave then (shared machines vary by 2x within minutes). Prints each round, the medians, the per-round
ratios and the largest difference between "before" and "after".

    python docs/results/bench_amx/probe_fused.py [ROUNDS] [--precision bf16|fp32] [--no-int8]

On an AVX2-only CPU as oneDNN and ATen see it (`ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2`), with
`--precision fp32 --no-int8` (`auto` is fp32 there; int8 was not measured under the cap).
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from vsadcvsr.engine import Upscaler, colour_fix
from vsadcvsr.eval.benchmark import natural_frames
from vsadcvsr.model import compact, layers


def _add_detail_before(detail: Tensor, lr: Tensor) -> Tensor:
    return 2 * F.pixel_shuffle(detail, 4).to(lr.dtype) + F.interpolate(lr, scale_factor=4, mode="nearest")


def _bicubic_before(lr: Tensor, scale: int) -> Tensor:
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)


@contextlib.contextmanager
def before() -> Iterator[None]:
    saved = layers._MKLDNN_FUSION, compact.add_detail, colour_fix.bicubic_up
    layers._MKLDNN_FUSION, compact.add_detail, colour_fix.bicubic_up = False, _add_detail_before, _bicubic_before
    try:
        yield
    finally:
        layers._MKLDNN_FUSION, compact.add_detail, colour_fix.bicubic_up = saved


def matmul_rate(dtype: torch.dtype) -> float:
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    a @ b
    times = []
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * 2048**3 / statistics.median(times) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rounds", type=int, nargs="?", default=7)
    ap.add_argument("--precision", default="bf16", choices=("bf16", "fp32"))
    ap.add_argument("--no-int8", action="store_true", help="leave the int8 variant out")
    a = ap.parse_args()
    torch.set_num_threads(2)
    dtype = torch.bfloat16 if a.precision == "bf16" else torch.float32
    frames = torch.from_numpy(natural_frames(8, 320, 180)).permute(0, 3, 1, 2).float().div(255)
    float_up = Upscaler("default", precision=a.precision)
    variants: dict[str, tuple[Upscaler, Callable[[], contextlib.AbstractContextManager[None]]]] = {
        "before": (float_up, before), "after": (float_up, contextlib.nullcontext)
    }
    if not a.no_int8:
        variants["int8"] = (Upscaler("default", precision="int8"), contextlib.nullcontext)
    times: dict[str, list[float]] = {k: [] for k in variants}
    outputs: dict[str, Tensor] = {}
    rates = []
    for r in range(a.rounds + 1):  # round 0 warms up
        for name, (up, ctx) in variants.items():
            with ctx():
                t = time.perf_counter()
                outputs[name] = up.upscale_window(frames)
                dt = (time.perf_counter() - t) / len(frames)
            if r:
                times[name].append(dt)
        if r:
            rates.append(matmul_rate(dtype))
            print(f"round {r}: " + "  ".join(f"{k} {v[-1]:.4f}" for k, v in times.items())
                  + f"  ({a.precision} matmul {rates[-1]:.0f} GFLOP/s)", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{a.precision}, 8 frames 320x180 -> 1280x720, 2 threads, {a.rounds} rounds; medians s/frame: "
          + ", ".join(f"{k} {v:.4f}" for k, v in med.items())
          + f"; {a.precision} matmul median {statistics.median(rates):.0f}")
    for k in [k for k in variants if k != "before"]:
        ratios = [b / x for b, x in zip(times["before"], times[k])]
        print(f"before/{k}: {med['before'] / med[k]:.2f}x on the medians; per round "
              + " ".join(f"{x:.2f}" for x in ratios) + f", median {statistics.median(ratios):.2f}x")
    print(f"max |after - before| {(outputs['after'] - outputs['before']).abs().max().item():.2e} (0-1 pixels)")


if __name__ == "__main__":
    main()
