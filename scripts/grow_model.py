"""Writes a deeper copy of a compact checkpoint that computes the same function (added layers start as the identity).

Example: python scripts/grow_model.py runs/S/compact-p2.safetensors runs/L/init.safetensors --convs 24
(then train it with --model compact-deep --init runs/L/init.safetensors).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)

from vsadcvsr.checkpoint import CheckpointError, read_info, read_state, save_checkpoint
from vsadcvsr.model import CompactConfig
from vsadcvsr.train.grow import deepen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--convs", type=int, default=24, help="body convolutions of the grown network (default 24)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    try:
        info = read_info(a.checkpoint)
        if not isinstance(info.config, CompactConfig):
            raise CheckpointError(f"{a.checkpoint} is not a compact network")
        if a.output.resolve() == a.checkpoint.resolve():
            raise CheckpointError("the output must be another file than the checkpoint")
        grown, cfg = deepen(read_state(a.checkpoint), info.config, a.convs)
    except (CheckpointError, ValueError) as e:
        print(f"grow_model: {e}", file=sys.stderr)
        return 1
    keep = {k: v for k, v in info.metadata.items() if k not in ("format", "config", "scale", "provenance", "licence")}
    keep["grown_from"] = f"{a.checkpoint.name} ({info.config.convs} convolutions)"
    save_checkpoint(a.output, grown, cfg, provenance=info.metadata.get("provenance", "?"),
                    licence=info.metadata.get("licence", "?"), extra=keep)
    logging.info("grow_model: %s, %d → %d convolutions", a.output, info.config.convs, cfg.convs)
    return 0


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main, "train"))
