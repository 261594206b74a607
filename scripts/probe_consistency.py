"""Can a consistency head see temporal order and the student's flicker? A probe for issue #17.

Draws clips from the training material (HR crops of --size px, --clip-frames frames), runs the shipped student on
their degraded LR (mild), and caches the frozen x4plus features of every frame. Then, on held-out clips:
- `--stats`: parameter-free statistics of each clip (how well each frame's features match the next one's, at the
  same place and at the best place within 4 px; how much the best-match motion changes from pair to pair), their
  means per sample type and the AUC with which each tells real video from shuffled real video and from the student;
- `--head`: trains a consistency head alone on balanced labels (real video +1; shuffled real video and the student's
  output -1) and reports its accuracy per sample type: `depth` (the stage-2 `DepthHeads`), `corr` (a head on a
  cost volume of consecutive frames, `CorrelationConsistency` below).
The discriminator in stage 2 must learn the same thing under a moving student with fewer steps: a head that fails
here cannot work there.

Example: python scripts/probe_consistency.py --stats --head depth corr --frames 3 5 --cache runs/probe/cache.pt
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vsadcvsr.checkpoint import load_model, resolve_model_path
from vsadcvsr.degradation import degrade_clip
from vsadcvsr.files import atomic_write
from vsadcvsr.train.data import load_material, shuffle_frames, video_clip
from vsadcvsr.train.discriminators import DepthHeads, TemporalConv
from vsadcvsr.train.feature_backbone import FrozenX4plusFeatures

log = logging.getLogger("probe_consistency")
MARGIN = 16  # HR pixels cut from each side after the student and the backbone (their borders are not the picture's)
LABELS = {"real_video": 1, "shuffled_video": -1, "student": -1}


def _sn(m: nn.Module) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(m)


def cost_volume(f: Tensor, frames: int, radius: int) -> Tensor:
    """(B*T, C, H, W) features, L2-normalised per position → (B*(T-1), (2r+1)^2, H, W): the cosine similarity of
    each position of frame t with the positions of frame t+1 up to `radius` away (row-major: dy, then dx)."""
    n, c, h, w = f.shape
    g = f.view(n // frames, frames, c, h, w)
    a, b = g[:, :-1].reshape(-1, c, h, w), g[:, 1:].reshape(-1, c, h, w)
    bp = F.pad(b, (radius,) * 4)
    k = 2 * radius + 1
    return torch.stack([(a * bp[..., i:i + h, j:j + w]).sum(1) for i in range(k) for j in range(k)], 1)


def soft_motion(cv: Tensor, radius: int, sharpness: float = 20.0) -> Tensor:
    """(N, (2r+1)^2, H, W) cost volume → (N, 2, H, W) soft-argmax displacement (dy, dx) in pixels."""
    d = torch.arange(-radius, radius + 1, dtype=cv.dtype, device=cv.device)
    p = torch.softmax(cv * sharpness, 1)
    k = 2 * radius + 1
    return torch.stack([(p * d.repeat_interleave(k)[:, None, None]).sum(1), (p * d.repeat(k)[:, None, None]).sum(1)], 1)


class CorrelationConsistency(nn.Module):
    """A consistency head that compares each frame with the next one after alignment, where `DepthHeads` stacks
    frames: (B*T, C, H, W) features → [spatial logits (B, T-1, K), clip logit (B, 1, 1)].

    Features projected to `width` channels, pooled x`pool`, L2-normalised, correlated with the next frame's up to
    `radius` (a cost volume, as in optical-flow networks); 3x3 stride-2 conv, temporal conv along the pairs, 3x3
    stride-2 conv, 1x1 logits; plus a linear clip logit on the best-match statistics and the change of motion."""

    def __init__(self, channels: int, width: int = 32, radius: int = 4, pool: int = 2) -> None:
        super().__init__()
        self.radius, self.pool = radius, pool
        self.proj = nn.Conv2d(channels, width, 1)
        self.stem = _sn(nn.Conv2d((2 * radius + 1) ** 2, 64, 3, 2, 1))
        self.temporal = TemporalConv(64)
        self.temporal.conv = _sn(self.temporal.conv)
        self.spatial = _sn(nn.Conv2d(64, 64, 3, 2, 1))
        self.head = nn.Conv2d(64, 16, 1)
        self.stats = nn.Linear(5, 1)

    def forward(self, f: Tensor, frames: int) -> list[Tensor]:
        b, pairs = f.shape[0] // frames, frames - 1
        g = F.normalize(F.avg_pool2d(self.proj(f), self.pool), dim=1)
        cv = cost_volume(g, frames, self.radius)
        h = F.leaky_relu(self.stem(cv), 0.2)
        h = F.leaky_relu(self.temporal(h, pairs), 0.2)
        h = F.leaky_relu(self.spatial(h), 0.2)
        clip = self.stats(torch.stack(list(clip_stats(cv, b, self.radius).values()), 1)).view(b, 1, 1)
        return [self.head(h).reshape(b, pairs, -1), clip]


def clip_stats(cv: Tensor, clips: int, radius: int) -> dict[str, Tensor]:
    """Per clip, from the cost volumes of its T-1 frame pairs: mean best match, its spread, the match in place, the
    mean change of motion from pair to pair (`jerk`; 0 for one pair) and the mean motion."""
    pairs = cv.shape[0] // clips
    best = cv.amax(1).view(clips, pairs, -1)
    zero = cv[:, cv.shape[1] // 2].reshape(clips, pairs, -1)
    flow = soft_motion(cv, radius).view(clips, pairs, 2, -1)
    jerk = (flow[:, 1:] - flow[:, :-1]).abs().mean((1, 2, 3)) if pairs > 1 else flow.new_zeros(clips)
    return {"best": best.mean((1, 2)), "best_spread": best.std(2).mean(1), "in_place": zero.mean((1, 2)),
            "jerk": jerk, "motion": flow.abs().mean((1, 2, 3))}


def _tensor(clip: np.ndarray) -> Tensor:
    """(T, H, W, 3) uint8 or float [0, 1] → (T, 3, H, W) float in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(clip)).float()
    if clip.dtype == np.uint8:
        x = x / 255
    return x.permute(0, 3, 1, 2) * 2 - 1


@torch.no_grad()
def build_cache(n: int, frames: int, size: int, seed: int, depth: int, pan: int = 0) -> dict[str, Tensor]:
    """Features (n, T, C, size, size) fp16 of real clips (panning up to `pan` px per frame) and of the student's
    output of the same clips."""
    material = load_material()
    student, _ = load_model(resolve_model_path("default"))
    backbone = FrozenX4plusFeatures((depth,))
    rng = np.random.default_rng(seed)
    full = size + 2 * MARGIN
    crop = slice(MARGIN, MARGIN + size)
    real, stud = [], []
    t0 = time.monotonic()
    for i in range(n):
        clip = video_clip(material, frames, full, rng, pan=pan)
        lr = degrade_clip(clip, 4, seed * 1_000_003 + i, "mild")
        out = student(_tensor(lr)[None]).clamp(-1, 1)[0]
        for src, dst in ((_tensor(clip), real), (out, stud)):
            dst.append(backbone(src)[0][..., crop, crop].half())
        if (i + 1) % 25 == 0:
            log.info("cache: %d/%d clips, %.0f s", i + 1, n, time.monotonic() - t0)
    return {"real": torch.stack(real), "student": torch.stack(stud)}


def _samples(cache: dict[str, Tensor], idx: np.ndarray, frames: int, rng: np.random.Generator) -> dict[str, Tensor]:
    real = cache["real"][idx, :frames].float()
    perm = [shuffle_frames(np.arange(frames), rng) for _ in idx]
    shuffled = torch.stack([real[j, p] for j, p in enumerate(perm)])
    return {"real_video": real, "shuffled_video": shuffled, "student": cache["student"][idx, :frames].float()}


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counted half."""
    d = pos[:, None] - neg[None]
    return float((d > 0).mean() + 0.5 * (d == 0).mean())


@torch.no_grad()
def stats(cache: dict[str, Tensor], frames: int, held_out: int, seed: int, radius: int = 4) -> dict[str, object]:
    """Means per sample type of `clip_stats` on the held-out clips (features pooled x2, not projected), and the AUC of
    each for real vs shuffled and real vs student (0.5: no signal; far from 0.5 either way: a signal)."""
    rng = np.random.default_rng(seed + 1)
    n = cache["real"].shape[0]
    s = _samples(cache, np.arange(n - held_out, n), frames, rng)
    per: dict[str, dict[str, np.ndarray]] = {}
    for kind, x in s.items():
        b, t = x.shape[:2]
        g = F.normalize(F.avg_pool2d(x.reshape(b * t, *x.shape[2:]), 2), dim=1)
        cv = cost_volume(g, t, radius)[..., radius:-radius, radius:-radius]
        per[kind] = {k: v.numpy() for k, v in clip_stats(cv, b, radius).items()}
    out: dict[str, object] = {}
    for name in per["real_video"]:
        out[name] = {**{k: round(float(v[name].mean()), 4) for k, v in per.items()},
                     "auc_real_vs_shuffled": round(auc(per["real_video"][name], per["shuffled_video"][name]), 3),
                     "auc_real_vs_student": round(auc(per["real_video"][name], per["student"][name]), 3)}
    return out


def _run_head(head: nn.Module, x: Tensor) -> list[Tensor]:
    """The consistency parts of `head` on clips (B, T, C, H, W)."""
    b, t = x.shape[:2]
    out = head(x.reshape(b * t, *x.shape[2:]), t)
    return out[1] if isinstance(head, DepthHeads) else out


def probe(cache: dict[str, Tensor], kind: str, frames: int, steps: int, batch: int, lr: float,
          held_out: int, seed: int) -> dict[str, float]:
    """Trains one consistency head for `steps`; returns its held-out accuracy per sample type (and its mean)."""
    torch.manual_seed(seed)
    n, _, channels = cache["real"].shape[:3]
    head = DepthHeads(channels) if kind == "depth" else CorrelationConsistency(channels)
    opt = torch.optim.Adam(head.parameters(), lr=lr, betas=(0.5, 0.999))
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        s = _samples(cache, rng.choice(n - held_out, batch, replace=False), frames, rng)
        pos = torch.stack([F.softplus(-p).mean() for p in _run_head(head, s["real_video"])]).mean()
        neg = torch.stack([F.softplus(p).mean() for k in ("shuffled_video", "student")
                           for p in _run_head(head, s[k])]).mean()
        opt.zero_grad(set_to_none=True)
        ((pos + neg) / 2).backward()
        opt.step()
    acc: dict[str, list[float]] = {k: [] for k in LABELS}
    erng = np.random.default_rng(seed + 1)
    with torch.no_grad():
        for chunk in np.array_split(np.arange(n - held_out, n), max(1, held_out // batch)):
            s = _samples(cache, chunk, frames, erng)
            for k, y in LABELS.items():  # one decision per clip: the mean logit of each part, then of the parts
                score = torch.stack([p.flatten(1).mean(1) for p in _run_head(head, s[k])]).mean(0)
                acc[k] += ((score > 0) == (y > 0)).float().tolist()
    out = {k: float(np.mean(v)) for k, v in acc.items()}
    out["mean"] = float(np.mean([out["real_video"], (out["shuffled_video"] + out["student"]) / 2]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stats", action="store_true", help="report the parameter-free statistics")
    ap.add_argument("--head", nargs="*", default=[], choices=("depth", "corr"), help="heads to train and compare")
    ap.add_argument("--frames", nargs="+", type=int, default=[3, 5], help="clip lengths to compare (<= --clip-frames)")
    ap.add_argument("--clip-frames", type=int, default=5)
    ap.add_argument("--size", type=int, default=96, help="HR crop side the heads see")
    ap.add_argument("--clips", type=int, default=240)
    ap.add_argument("--held-out", type=int, default=60)
    ap.add_argument("--depth", type=int, default=6, help="x4plus convolution whose output the heads see")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pan", type=int, default=0, metavar="PX", help="camera pans of up to PX HR pixels per frame")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--cache", type=Path, help="keep the features in this file (.pt) and reuse it when it exists "
                    "(the options that made it are stored with it and must match)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    if a.threads:
        torch.set_num_threads(a.threads)
    if max(a.frames) > a.clip_frames or min(a.frames) < 2:
        ap.error("--frames must lie in 2..--clip-frames")
    if not 0 < a.held_out < a.clips:
        ap.error("--held-out must lie in 1..--clips-1")
    if not a.stats and not a.head:
        ap.error("nothing to do: give --stats and/or --head")
    made_by = {"clips": a.clips, "clip_frames": a.clip_frames, "size": a.size, "seed": a.seed, "depth": a.depth}
    if a.pan:
        made_by["pan"] = a.pan
    if a.cache and a.cache.is_file():
        cache = torch.load(a.cache)
        if cache.pop("made_by") != made_by:
            ap.error(f"--cache {a.cache} was made with other options; remove it or change the options back")
    else:
        cache = build_cache(a.clips, a.clip_frames, a.size, a.seed, a.depth, a.pan)
        if a.cache:
            with atomic_write(a.cache) as tmp:
                torch.save({**cache, "made_by": made_by}, tmp)
    base = {"size": a.size, "depth": a.depth, "clips": a.clips, "held_out": a.held_out, "pan": a.pan}
    for t in a.frames:
        if a.stats:
            print(json.dumps({"stats": True, "frames": t, **base, **stats(cache, t, a.held_out, a.seed)}), flush=True)
        for kind in a.head:
            t0 = time.monotonic()
            r = probe(cache, kind, t, a.steps, a.batch, a.lr, a.held_out, a.seed)
            print(json.dumps({"head": kind, "frames": t, **base, "steps": a.steps,
                              "seconds": round(time.monotonic() - t0, 1), **{k: round(v, 3) for k, v in r.items()}}),
                  flush=True)
    return 0


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main, "train"))
