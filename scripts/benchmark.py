#!/usr/bin/env python3
"""Speed and memory of x4 upscalers on this machine: the options of `vsadcvsr.eval.benchmark` (which see)."""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)

from vsadcvsr.eval import benchmark
from vsadcvsr.eval.benchmark import DEFAULT_METHODS, SECTIONS


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=benchmark.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                   help="ours-tiny, ours-compact, ours-adcvsr (fp32; a suffix @bf16, @fp16 or @int8 picks the "
                   "precision, @system-heap or @bf16+system-heap keeps glibc's default malloc settings, @onnxruntime, "
                   "@openvino, @tensorrt run the engine's backends), ours:MODEL, "
                   "lanczos, bicubic and the ncnn peers")
    p.add_argument("--sizes", nargs="+", type=_size, default=[(320, 180), (480, 270)], help="input sizes, WxH")
    p.add_argument("--window", type=int, default=8, help="frames per window for ours (speed and size scaling)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs after the warm-up (fewer if over --budget-s)")
    p.add_argument("--budget-s", type=float, default=40.0, help="seconds of timed runs per measurement")
    p.add_argument("--slow-s", type=float, default=25.0, help="a warm-up slower than this is the only run")
    p.add_argument("--max-frame-s", type=float, default=300.0,
                   help="skip a method at a size when its smaller-size speed predicts more s/frame than this")
    p.add_argument("--scaling-sizes", nargs="+", type=_size, default=[(80, 45), (160, 90), (240, 135), (320, 180)])
    p.add_argument("--lengths", nargs="+", type=int, default=[16, 32, 64, 128])
    p.add_argument("--length-size", type=_size, default=(160, 90))
    p.add_argument("--adapter-size", type=_size, default=(160, 68))
    p.add_argument("--adapter-frames", type=int, default=24)
    p.add_argument("--adapter-rounds", type=int, default=3, help="interleaved runs of each adapter path")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per worker process")
    p.add_argument("--threads", type=int, default=0, help="torch threads (and OMP_NUM_THREADS for vspipe and "
                   "FFmpeg bridge processes); 0 = torch's default")
    p.add_argument("--quick", action="store_true", help="small sizes and few runs (a smoke test)")
    p.add_argument("--out", type=Path, default=Path("bench_results"))
    args = p.parse_args(argv)
    try:
        benchmark.check_methods(args.methods)
    except ValueError as e:
        p.error(str(e))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    command = "python scripts/benchmark.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None
                                                                                  else sys.argv[1:]))
    sys.stdout.write(benchmark.run(args, command))
    return 0


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main))
