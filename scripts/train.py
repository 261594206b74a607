"""Trains an AdcVSR student with the paper's two-stage method on a set made by scripts/make_training_data.py.

Single process:  python scripts/train.py --data runs/data/train.npz --run-dir runs/tiny --stage 1 --steps 3000
Distributed:     torchrun --nproc_per_node 2 scripts/train.py ...   (gloo on the CPU, nccl on GPUs)
Re-running the same command resumes from RUN_DIR/state.pt. Stage 2: --stage 2 --init RUN1/state.pt.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)
import torch
import torch.distributed as dist

from vsadcvsr.train.config import TrainConfig
from vsadcvsr.train.options import add_run_options, config_from_args
from vsadcvsr.train.runtime import set_cuda_precision, setup_distributed
from vsadcvsr.train.trainer import Trainer


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig(data="", run_dir="")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_options(ap, "train")
    ap.add_argument("--steps", type=int, default=d.steps, help="optimiser steps of this stage")
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--lr-halve-at", type=float, default=d.lr_halve_at,
                    help="fraction of --steps after which the lr is halved")
    ap.add_argument("--max-seconds", type=float, default=None, help="stop (and checkpoint) after this long")
    ap.add_argument("--export", type=Path, default=None, help="write the student here as a .safetensors at the end")
    ap.add_argument("--export-dtype", choices=("fp16", "fp32"), default="fp16", help="storage type of --export")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    cfg = config_from_args(a)
    if torch.cuda.is_available():
        set_cuda_precision(a.tf32)
        torch.backends.cudnn.benchmark = not a.deterministic
    distributed = setup_distributed()
    try:
        trainer = Trainer(cfg)
        logging.getLogger(__name__).info("config %s", json.dumps(cfg.to_json()))
        trainer.fit(a.max_seconds)
        if a.export is not None:
            trainer.export(a.export, dtype=torch.float16 if a.export_dtype == "fp16" else None)
    finally:
        if distributed:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main, "train"))
