"""Does the real-vs-student signal in the frozen x4plus conv-6 features live in flat regions, or only at edges? As run
on 2026-12-04 (eighth session) from the repository root:
    .venv/bin/python docs/results/stage2_2026-12-04_heads/probe_flat.py /work/scratch/probe/cache96.pt
(the cache of `scripts/probe_consistency.py --stats`; the last 60 of 240 clips held out). Per frame, channel
mean/std over a 64 px centre crop: over all pixels, over the flattest half and quarter, and over the busiest quarter
(pixels ranked by the real frame's local feature energy, the same mask for the student's frame of the same
content; with `--own`, each frame ranked by its own energy, as a head would); a logistic regression (L-BFGS, as probe_detail.py) on the signed-log statistics, held-out accuracy."""
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
c = torch.load(sys.argv[1]); c.pop('made_by', None)
real, stud = c['real'], c['student']  # (240, 5, 64, 96, 96) fp16
n, ho = real.shape[0], 60


def stats(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    w = mask / mask.sum((-1, -2), keepdim=True)
    m = (x * w).sum((-1, -2))
    sd = ((x - m[..., None, None]) ** 2 * w).sum((-1, -2)).clamp_min(0).sqrt()
    return torch.cat([m, sd], -1)


def fit(xr: torch.Tensor, xs: torch.Tensor) -> float:
    X = torch.cat([xr.reshape(-1, xr.shape[-1]), xs.reshape(-1, xs.shape[-1])])
    y = torch.cat([torch.ones(n * 5), torch.zeros(n * 5)])
    tr = torch.cat([torch.arange(0, (n - ho) * 5), n * 5 + torch.arange(0, (n - ho) * 5)])
    te = torch.cat([torch.arange((n - ho) * 5, n * 5), n * 5 + torch.arange((n - ho) * 5, n * 5)])
    Xs = torch.sign(X) * torch.log1p(X.abs()); mu, sd = Xs[tr].mean(0), Xs[tr].std(0) + 1e-6; Z = (Xs - mu) / sd
    w = torch.zeros(Z.shape[1], requires_grad=True); b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500)

    def closure():
        opt.zero_grad(); loss = F.binary_cross_entropy_with_logits(Z[tr] @ w + b, y[tr]) + 1e-3 * w.pow(2).sum()
        loss.backward(); return loss
    opt.step(closure)
    return float((((Z[te] @ w + b) > 0).float() == y[te]).float().mean())


OWN = "--own" in sys.argv


def masks_of(x: torch.Tensor) -> dict[str, torch.Tensor]:
    energy = F.avg_pool2d(x.pow(2).mean(1, keepdim=True), 5, 1, 2)[:, 0]  # (5, 64, 64): local feature energy
    q = torch.quantile(energy.flatten(1), torch.tensor([0.25, 0.5, 0.75]), dim=1).T  # (5, 3)
    return {"all pixels": torch.ones_like(energy), "flattest half": (energy <= q[:, 1, None, None]).float(),
            "flattest quarter": (energy <= q[:, 0, None, None]).float(),
            "busiest quarter": (energy >= q[:, 2, None, None]).float()}


rows = {k: ([], []) for k in ("all pixels", "flattest half", "flattest quarter", "busiest quarter")}
for i in range(n):
    r, s = real[i, :, :, 16:80, 16:80].float(), stud[i, :, :, 16:80, 16:80].float()
    masks, own = masks_of(r), masks_of(s) if OWN else None
    for k, mk in masks.items():
        rows[k][0].append(stats(r, mk[:, None])); rows[k][1].append(stats(s, (own[k] if own else mk)[:, None]))
for k, (a, b) in rows.items():
    print(f"{k}{' (own masks)' if OWN else ''}: held-out accuracy {fit(torch.stack(a), torch.stack(b)):.3f}", flush=True)
