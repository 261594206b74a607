"""Exports the student of a training state (RUN_DIR/state.pt) as a vsadcvsr .safetensors checkpoint.

Example: python scripts/export_model.py runs/tiny-s1/state.pt vsadcvsr/weights/tiny.safetensors --dtype fp16
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)
import torch

from vsadcvsr.train.export import export_state
from vsadcvsr.train.state_file import StateFileError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("state", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="extra metadata; repeatable")
    ap.add_argument("--dtype", choices=("fp16", "fp32"), default="fp16",
                    help="storage type of the weights (fp16 halves the file; they load as fp32)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    extra = dict(m.split("=", 1) for m in a.meta)
    try:
        export_state(a.state, a.output, extra, torch.float16 if a.dtype == "fp16" else None)
    except StateFileError as e:
        print(f"export_model: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main, "train"))
