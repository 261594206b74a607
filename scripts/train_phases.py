"""Trains in timed phases (each with its own learning rate), exporting the student after each phase.

For a machine lent for a fixed time (a GPU for minutes): the run is bounded by the clock, not by a step count, and
every phase leaves a usable checkpoint. Resumes RUN_DIR/state.pt like scripts/train.py.

Example (stage 1 from an earlier state, then two phases of stage 2 on its result):
  python scripts/train_phases.py --data runs/data/gpu.npz --run-dir runs/a1 --init runs/tiny-s1/state.pt \
      --batch 12 --crop 64 --frames 5 --phases 2e-4:160 5e-5:70 --export runs/a1/tiny
  python scripts/train_phases.py --data runs/data/gpu.npz --run-dir runs/a2 --stage 2 --init runs/a1/state.pt \
      --batch 8 --crop 64 --frames 5 --phases 2e-5:45 2e-5:45 --adv-pixel-weight 0.1 --adv-feature-weight 0.1 \
      --export runs/a2/tiny
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsadcvsr.train.trainer import TF32_HELP, Trainer, TrainConfig, parse_weights, set_cuda_precision  # noqa: E402


def _phase(text: str) -> tuple[float, float]:
    lr, _, seconds = text.partition(":")
    return float(lr), float(seconds)


def main(argv: list[str] | None = None) -> int:
    d = TrainConfig(data="", run_dir="")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--model", default=d.model)
    ap.add_argument("--stage", type=int, default=1, choices=(1, 2))
    ap.add_argument("--init", default=None, help="state.pt to start the student and encoder from, or a .safetensors "
                    "checkpoint (e.g. vsadcvsr/weights/tiny.safetensors) for the student alone")
    ap.add_argument("--batch", type=int, default=d.batch)
    ap.add_argument("--crop", type=int, default=d.crop)
    ap.add_argument("--frames", type=int, default=d.frames)
    ap.add_argument("--phases", type=_phase, nargs="+", required=True, metavar="LR:SECONDS")
    ap.add_argument("--teachers", type=parse_weights, default={"gt": 1.0}, help="e.g. gt=0.8,animevideov3=0.2")
    ap.add_argument("--teacher-mix", choices=("losses", "blend"), default="losses",
                    help="losses: one loss per teacher, weighted; blend: one loss on the weighted mean of the teachers")
    ap.add_argument("--preset-weights", type=parse_weights, default={}, help="e.g. mild=0.9,standard=0.1")
    ap.add_argument("--threads", type=int, default=0, help="torch threads on the CPU (0: torch's default)")
    ap.add_argument("--pixel-weight", type=float, default=1.0)
    ap.add_argument("--perceptual-weight", type=float, default=d.perceptual_weight,
                    help="weight of the SSIM+Sobel stand-in for DISTS inside the pixel term")
    ap.add_argument("--contrast-weight", type=float, default=d.contrast_weight,
                    help="weight of the local-contrast term (local standard deviations, not pixels) in the pixel term")
    ap.add_argument("--feature-weight", type=float, default=d.feature_weight,
                    help="feature-domain L1 (0: pixel domain only, as for the compact student)")
    ap.add_argument("--ae-weight", type=float, default=d.ae_weight, help="the feature encoder's autoencoder term")
    ap.add_argument("--adv-pixel-weight", type=float, default=d.adv_pixel_weight)
    ap.add_argument("--adv-feature-weight", type=float, default=d.adv_feature_weight)
    ap.add_argument("--d-lr", type=float, default=d.d_lr)
    ap.add_argument("--grad-clip", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--tf32", action="store_true", help=TF32_HELP)
    ap.add_argument("--contiguous", action="store_true", help="contiguous weights and activations instead of "
                    "channels_last (for a device where scripts/check_gradients.py finds channels_last wrong)")
    ap.add_argument("--pixel-colour-fix", choices=("none", "wavelet"), default="none",
                    help="wavelet: the pixel losses see the output after the engine's wavelet colour fix")
    ap.add_argument("--export", type=Path, default=None, help="prefix: PREFIX-pN.safetensors after phase N (fp16)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if torch.cuda.is_available():
        set_cuda_precision(a.tf32)
        torch.backends.cudnn.benchmark = True
    cfg = TrainConfig(
        data=a.data, run_dir=a.run_dir, model=a.model, stage=a.stage, steps=10**9, batch=a.batch, crop=a.crop,
        frames=a.frames, lr=a.phases[0][0], lr_halve_at=1.0, d_lr=a.d_lr, grad_clip=a.grad_clip,
        pixel_weight=a.pixel_weight, feature_weight=a.feature_weight, ae_weight=a.ae_weight,
        perceptual_weight=a.perceptual_weight, contrast_weight=a.contrast_weight,
        adv_pixel_weight=a.adv_pixel_weight,
        adv_feature_weight=a.adv_feature_weight,
        seed=a.seed, log_every=a.log_every, init=a.init, teachers=a.teachers, preset_weights=a.preset_weights,
        threads=a.threads, channels_last=not a.contiguous, pixel_colour_fix=a.pixel_colour_fix,
        teacher_mix=a.teacher_mix,
    )
    trainer = Trainer(cfg)
    logging.getLogger(__name__).info("config %s phases %s", json.dumps(cfg.to_json()), a.phases)
    for i, (lr, seconds) in enumerate(a.phases):
        trainer.cfg.lr = lr
        reason = trainer.fit(max_seconds=seconds)
        logging.getLogger(__name__).info("phase %d (lr %g, %g s) ended at step %d", i, lr, seconds, trainer.step)
        if a.export is not None:
            trainer.export(f"{a.export}-p{i}.safetensors", extra={"phases": json.dumps(a.phases[: i + 1])},
                           dtype=torch.float16)
        if reason == "signal":  # SIGTERM ends the run, not only the phase
            break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
