"""Exports the student of a training state (RUN_DIR/state.pt) as a vsadcvsr .safetensors checkpoint.

Example: python scripts/export_model.py runs/tiny-s1/state.pt vsadcvsr/weights/tiny.safetensors --note "..."
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsadcvsr.train.trainer import export_state  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("state", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="extra metadata; repeatable")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    extra = dict(m.split("=", 1) for m in a.meta)
    export_state(a.state, a.output, extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
