"""Probe (issue #15): the default network in fp32, eager (the engine's path) against torch.compile (Inductor,
freezing, weight prepacking), side by side in one process, interleaved rounds; 4 frames of bikes.mp4 at 320x180 ->
1280x720, 2 threads. Prints each round's s/frame, the medians, their ratio and the largest difference.

    python scripts/probe_compile.py [ROUNDS]     # default 5
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)
import torch
import torch._inductor.config as ic

from vsadcvsr.checkpoint import load_model, resolve_model_path
from vsadcvsr.eval.benchmark import natural_frames


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rounds", type=int, nargs="?", default=5, help="interleaved rounds (default 5)")
    rounds = ap.parse_args(argv).rounds
    torch.set_num_threads(2)
    model, _ = load_model(resolve_model_path("default"), "cpu")
    model = model.float().eval().requires_grad_(False).to(memory_format=torch.channels_last)
    x = torch.from_numpy(natural_frames(4, 320, 180)).permute(0, 3, 1, 2).float().div(255)[None] * 2 - 1
    ic.freezing = True
    ic.cpp.weight_prepack = True
    t0 = time.perf_counter()
    compiled = torch.compile(model, dynamic=False)
    with torch.inference_mode():
        ref = model(x)
        got = compiled(x)
    compile_s = time.perf_counter() - t0
    diff = (got - ref).abs().max().item() / 2
    rows: dict[str, list[float]] = {"eager": [], "compile": []}
    with torch.inference_mode():
        for _ in range(rounds):
            for name, net in (("eager", model), ("compile", compiled)):
                t = time.perf_counter()
                net(x)
                rows[name].append((time.perf_counter() - t) / 4)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"compile (first call) {compile_s:.0f} s; max |diff| {diff:.2e} (0-1 pixels)")
    for k, v in rows.items():
        print(f"{k:8s} " + " ".join(f"{s:.3f}" for s in v) + f"  median {med[k]:.3f} s/frame")
    print(f"eager/compile {med['eager'] / med['compile']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
