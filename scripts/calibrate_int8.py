"""Calibrates a checkpoint for `precision="int8"` and writes the ranges beside it (NAME.int8.json), where the
engine reads them before its cache: the bundled default ships the file this makes.

    python scripts/calibrate_int8.py                      # the bundled default (run after retraining it)
    python scripts/calibrate_int8.py --model my.safetensors -o my.int8.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)

from vsadcvsr.checkpoint import CheckpointError, resolve_model_path
from vsadcvsr.engine.int8 import bundled_file, calibrate_checkpoint, int8_support, write_qparams
from vsadcvsr.material import INT8_CALIBRATION
from vsadcvsr.model import Int8Error


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default", help='"default" (bundled) or a checkpoint path')
    ap.add_argument("-o", "--output", type=Path, help="where to write (default: beside the checkpoint)")
    a = ap.parse_args(argv)
    try:
        path = resolve_model_path(a.model)
        support = int8_support(path)
        qparams = calibrate_checkpoint(path, support, INT8_CALIBRATION)
    except (CheckpointError, Int8Error) as e:
        print(f"calibrate_int8: {e}", file=sys.stderr)
        return 1
    out = a.output or bundled_file(path)
    write_qparams(out, path, support, INT8_CALIBRATION.name, qparams)
    print(f"calibrate_int8: {len(qparams)} activation ranges of {path.name} on {INT8_CALIBRATION.name} -> {out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
