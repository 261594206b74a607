"""torch's side of convprelu.cpp (issue #15): the same bf16 convolution (one 8-frame window at 320x180 with the
network's padding, channels_last) and torch's PReLU after it; medians of 7 runs after one warm-up.

    python docs/results/bench_amx/torch_side.py
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from vsadcvsr.engine.heap import keep_freed_memory


def main() -> None:
    keep_freed_memory()  # as the engine runs
    torch.set_num_threads(2)
    x = torch.randn(8, 64, 200, 340, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
    w = (torch.randn(64, 64, 3, 3) * 0.05).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    b, a = torch.randn(64, dtype=torch.bfloat16), torch.rand(64, dtype=torch.bfloat16)
    conv, both = [], []
    with torch.inference_mode():
        for r in range(8):
            t = time.perf_counter()
            y = F.conv2d(x, w, b, padding=1)
            t_conv = time.perf_counter()
            F.prelu(y, a)
            t_both = time.perf_counter()
            if r:
                conv.append(t_conv - t)
                both.append(t_both - t)
    print(f"torch: conv {statistics.median(conv) * 1e3:.1f} ms, conv then PReLU {statistics.median(both) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
