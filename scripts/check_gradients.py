"""Compares the generator's stage-1 loss and gradients on one batch between the CPU and other settings.

A correctness check for training on a GPU (earlier GPU runs saw gradient norms 1e2-1e6 where the CPU sees 2-5).
Reference: the CPU, fp32, the trainer's channels_last weights. Each variant — the CPU with contiguous weights; on
CUDA, TF32 off/on x channels_last/contiguous — reports its loss, gradient norm, the cosine between its gradient and
the reference's, and the parameter whose gradient departs most; with `--steps N`, also the gradient norms of N
training steps on the same batches. Exit status 1 when a variant departs (cosine below 0.99, norm ratio outside
0.9-1.1, or a step's norm outside 0.5-2x the CPU's), so a script on a lent GPU can branch on it.

  python scripts/check_gradients.py --init vsadcvsr/weights/tiny.safetensors --data runs/data/train.npz \\
      --teachers animevideov3=0.65,x4plus=0.35 --teacher-mix blend --batch 4 --crop 48 --frames 3
"""
from __future__ import annotations

import argparse
import json
import tempfile

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)
import torch

from vsadcvsr.train import synthetic
from vsadcvsr.train.config import TrainConfig, parse_weights
from vsadcvsr.train.dataset import ClipDataset
from vsadcvsr.train.runtime import set_cuda_precision
from vsadcvsr.train.trainer import Trainer


def _gradients(trainer: Trainer) -> tuple[float, dict[str, torch.Tensor]]:
    b = trainer.batch(0)
    trainer.gen.train()
    loss, _, _, _ = trainer.generator_losses(b)
    trainer.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    grads = {n: p.grad.detach().double().cpu().flatten() for n, p in trainer.gen.named_parameters()
             if p.grad is not None}
    return loss.item(), grads


def compare(ref: dict[str, torch.Tensor], other: dict[str, torch.Tensor]) -> dict[str, object]:
    """Norms, cosine and the worst parameter (largest |difference| relative to the reference gradient's norm)."""
    a = torch.cat([ref[n] for n in ref])
    b = torch.cat([other[n] for n in ref])
    worst = max(ref, key=lambda n: float((ref[n] - other[n]).norm() / (ref[n].norm() + 1e-12)))
    return {"grad_norm": float(b.norm()), "norm_ratio": float(b.norm() / a.norm()),
            "cosine": float(torch.nn.functional.cosine_similarity(a, b, 0)), "worst_param": worst,
            "worst_rel_diff": float((ref[worst] - other[worst]).norm() / (ref[worst].norm() + 1e-12))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="training .npz (default: a small synthetic set)")
    ap.add_argument("--init", default=None, help="state.pt or .safetensors to take the weights from")
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--teachers", type=parse_weights, default={"gt": 1.0})
    ap.add_argument("--teacher-mix", choices=("losses", "blend"), default="losses")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--crop", type=int, default=0)
    ap.add_argument("--frames", type=int, default=0)
    ap.add_argument("--pixel-weight", type=float, default=1.0)
    ap.add_argument("--devices", nargs="+", default=["cpu", "cuda"], help="devices to compare with the CPU "
                    "reference (cuda is left out where there is none)")
    ap.add_argument("--steps", type=int, default=0, help="then train this many steps on each (the same batches, "
                    "grad clip 2, lr 1e-4) and compare the gradient norms step by step")
    a = ap.parse_args(argv)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True  # as the training scripts run
    dataset = ClipDataset.load(a.data) if a.data else synthetic.dataset(4)  # read once for all variants
    variants: list[tuple[str, bool, bool]] = []  # (device, tf32, channels_last)
    if "cpu" in a.devices:
        variants.append(("cpu", False, False))
    if "cuda" in a.devices and torch.cuda.is_available():
        variants += [("cuda", tf32, cl) for tf32 in (False, True) for cl in (True, False)]
    with tempfile.TemporaryDirectory() as tmp:
        def trainer(device: str, channels_last: bool = True) -> Trainer:
            cfg = TrainConfig(data=a.data or "", run_dir=tmp, model=a.model, stage=1, batch=a.batch, crop=a.crop,
                              frames=a.frames, teachers=a.teachers, teacher_mix=a.teacher_mix, init=a.init,
                              pixel_weight=a.pixel_weight, seed=0, device=device, channels_last=channels_last,
                              checkpoint_every_s=1e9, lr=1e-4, grad_clip=2.0, steps=10**9, lr_halve_at=1.0)
            return Trainer(cfg, dataset=dataset)

        def trajectory(t: Trainer) -> list[float]:
            return [t.train_step()["grad_norm"] for _ in range(a.steps)]

        first = trainer("cpu")
        ref_loss, ref = _gradients(first)
        ref_traj = trajectory(first)
        print(json.dumps({"variant": "cpu fp32 channels_last (reference)", "loss": ref_loss,
                          "grad_norm": float(torch.cat(list(ref.values())).norm()), "steps": ref_traj}), flush=True)
        bad = 0
        for device, tf32, channels_last in variants:
            if device == "cuda":
                set_cuda_precision(tf32)
            t = trainer(device, channels_last)
            loss, grads = _gradients(t)
            row = {"variant": f"{device} {'tf32' if tf32 else 'fp32'} "
                              f"{'channels_last' if channels_last else 'contiguous'}",
                   "loss": loss, "loss_rel_diff": abs(loss - ref_loss) / abs(ref_loss), **compare(ref, grads)}
            ok = row["cosine"] >= 0.99 and 0.9 <= row["norm_ratio"] <= 1.1  # type: ignore[operator]
            if a.steps:
                traj = trajectory(t)
                ratios = [x / r for x, r in zip(traj, ref_traj)]
                row["steps"] = traj
                ok = ok and all(0.5 <= q <= 2.0 for q in ratios)  # gradients that run away within a few steps
            row["ok"] = ok
            bad += not ok
            print(json.dumps(row), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main, "train"))
