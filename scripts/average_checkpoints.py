"""Averages the weights of checkpoints of one network (exports along one training run, as stochastic weight
averaging does) into a new checkpoint; the metadata is the last one's, with the sources recorded.

    python scripts/average_checkpoints.py A.safetensors B.safetensors [...] -o averaged.safetensors [--fp16]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", type=Path, help="vsadcvsr checkpoints of the same configuration")
    ap.add_argument("-o", "--output", type=Path, required=True, help="the averaged checkpoint")
    ap.add_argument("--fp16", action="store_true", help="store the weights in fp16 (as the bundled models are)")
    a = ap.parse_args(argv)
    import torch
    from safetensors.torch import load_file

    from vsadcvsr.checkpoint import CheckpointError, read_info, save_checkpoint

    try:
        infos = [read_info(p) for p in a.checkpoints]
    except CheckpointError as e:
        print(f"average_checkpoints: {e}", file=sys.stderr)
        return 1
    configs = {info.config.to_json() for info in infos}
    if len(configs) != 1:
        print("average_checkpoints: the checkpoints are of different configurations", file=sys.stderr)
        return 1
    states = [load_file(str(p)) for p in a.checkpoints]
    if any(s.keys() != states[0].keys() for s in states):
        print("average_checkpoints: the checkpoints hold different tensors", file=sys.stderr)
        return 1
    mean = {k: torch.stack([s[k].float() for s in states]).mean(0) for k in states[0]}
    last = infos[-1]
    extra = {k: v for k, v in last.metadata.items() if k not in ("format", "config", "scale", "provenance", "licence")}
    extra["averaged_from"] = json.dumps([p.name for p in a.checkpoints])
    save_checkpoint(a.output, mean, last.config, provenance=last.metadata["provenance"] + f"; weights averaged over "
                    f"{len(states)} checkpoints ({', '.join(p.name for p in a.checkpoints)})",
                    licence=last.metadata["licence"], extra=extra, dtype=torch.float16 if a.fp16 else None)
    print(f"average_checkpoints: {len(states)} checkpoints -> {a.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
