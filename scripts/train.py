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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from vsadcvsr.train.trainer import (  # noqa: E402
    TF32_HELP, Trainer, TrainConfig, parse_weights, set_cuda_precision, setup_distributed)


def main(argv: list[str] | None = None) -> int:
    d = TrainConfig(data="", run_dir="")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help=".npz made by scripts/make_training_data.py")
    ap.add_argument("--run-dir", required=True, help="folder for state.pt (resumable) and log.jsonl")
    ap.add_argument("--model", default=d.model, help="configuration name (tiny, tiny-2d, ...)")
    ap.add_argument("--stage", type=int, default=d.stage, choices=(1, 2))
    ap.add_argument("--steps", type=int, default=d.steps)
    ap.add_argument("--batch", type=int, default=d.batch, help="clips per process")
    ap.add_argument("--crop", type=int, default=d.crop, help="LR crop side per step (0: stored size)")
    ap.add_argument("--frames", type=int, default=d.frames, help="frames per clip per step (0: stored number)")
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--lr-halve-at", type=float, default=d.lr_halve_at)
    ap.add_argument("--d-lr", type=float, default=d.d_lr)
    ap.add_argument("--grad-clip", type=float, default=d.grad_clip, help="generator gradient norm limit (0: off)")
    ap.add_argument("--teachers", type=parse_weights, default=d.teachers, help="e.g. gt=1 or gt=0.8,animevideov3=0.2")
    ap.add_argument("--teacher-mix", choices=("losses", "blend"), default="losses",
                    help="losses: one loss per teacher, weighted; blend: one loss on the weighted mean of the teachers")
    ap.add_argument("--preset-weights", type=parse_weights, default={},
                    help="sampling weight per degradation preset of the stored clips, e.g. mild=0.8,standard=0.2")
    for name in ("pixel_weight", "perceptual_weight", "contrast_weight", "feature_weight", "ae_weight",
                 "adv_pixel_weight", "adv_feature_weight"):
        ap.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    ap.add_argument("--detail-channels", type=int, default=d.detail_channels)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--deterministic", action="store_true")
    ap.add_argument("--log-every", type=int, default=d.log_every)
    ap.add_argument("--checkpoint-every-s", type=float, default=d.checkpoint_every_s)
    ap.add_argument("--init", default=None, help="state.pt to start the student and encoder from, or a .safetensors "
                    "checkpoint (e.g. vsadcvsr/weights/tiny.safetensors) for the student alone")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=None, help="stop (and checkpoint) after this long")
    ap.add_argument("--export", type=Path, default=None, help="write the student here as a .safetensors at the end")
    ap.add_argument("--tf32", action="store_true", help=TF32_HELP)
    ap.add_argument("--pixel-colour-fix", choices=("none", "wavelet"), default="none",
                    help="wavelet: the pixel losses see the output after the engine's wavelet colour fix")
    ap.add_argument("--export-dtype", choices=("fp16", "fp32"), default="fp16", help="storage type of --export")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    skip = ("max_seconds", "export", "export_dtype", "tf32")
    cfg = TrainConfig(**{k: v for k, v in vars(a).items() if k not in skip})
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
    raise SystemExit(main())
