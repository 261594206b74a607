#!/usr/bin/env python3
"""Scores checkpoints (or any evaluation method) on the held-out selection frames: PSNR-Y, BRISQUE, E*warp and
the sub-pixel grid score (`vsadcvsr/eval/grid.py`).

For choosing among training exports without looking at the frames `scripts/evaluate.py` reports (the frames:
`vsadcvsr.eval.selection`). One JSON line per method on stdout (with --reference, first one for the HR frames'
own no-reference scores).

Example: python scripts/select_model.py lanczos ours:default ours:runs/a/tiny-p0.safetensors
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)

from vsadcvsr.eval.methods import build_method
from vsadcvsr.eval.selection import score_methods


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("methods", nargs="+", help="as scripts/evaluate.py: lanczos, ours:FILE, ours:default, ...")
    ap.add_argument("--frames", type=int, default=None, help="only the first N frames of each range")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reference", action="store_true", help="first a line with the HR frames' own BRISQUE, "
                    "E*warp and grid score (the floor)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="select_model: %(message)s")
    try:
        methods = [build_method(s) for s in a.methods]  # a bad name is refused before any work
    except ValueError as e:
        print(f"select_model: {e}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(a.threads)
    for spec, m in zip(a.methods, methods):
        m.name = spec  # exports of different runs share file names (runs/*/tiny-p0.safetensors)
    for row in score_methods(methods, a.frames, a.reference):
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main))
