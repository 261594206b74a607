# As run on 2026-12-04 (seventh session) from the repository root with .venv/bin/python: a plain linear classifier
# on standardised conv-6 channel statistics, trained with Adam as a run trains its heads (output: probe_detail.txt).
import sys, numpy as np, torch, torch.nn.functional as F
torch.set_num_threads(2)
c = torch.load('/work/scratch/probe/cache96.pt'); c.pop('made_by', None)
real, stud = c['real'], c['student']; n = real.shape[0]; ho = 60
def st(x):
    x = x.float(); return torch.cat([x.mean((-1, -2)), x.std((-1, -2))], -1)
def slog(x): return torch.sign(x) * torch.log1p(x.abs())
rng = np.random.default_rng(0)
def crop(x, i, centre=False):
    y0, x0 = (16, 16) if centre else rng.integers(0, 33, 2)
    return x[i, :, :, y0:y0+64, x0:x0+64]
# fixed standardisation from 40 training clips' centre crops
S = slog(torch.cat([st(crop(real, i, True)) for i in range(40)] + [st(crop(stud, i, True)) for i in range(40)]))
mu, sd = S.mean(0), S.std(0) + 1e-3
for random_crops in (False, True):
  for lr in (2e-4, 2e-3):
    torch.manual_seed(0); lin = torch.nn.Linear(128, 1); o = torch.optim.Adam(lin.parameters(), lr=lr, betas=(0.5, 0.999))
    for s in range(300):
        idx = rng.choice(n - ho, 2, replace=False)
        xr = torch.cat([st(crop(real, i, not random_crops))[:3] for i in idx]); xs = torch.cat([st(crop(stud, i, not random_crops))[:3] for i in idx])
        zr, zs = (slog(xr) - mu) / sd, (slog(xs) - mu) / sd
        loss = (F.softplus(-lin(zr)).mean() + F.softplus(lin(zs)).mean()) / 2
        o.zero_grad(); loss.backward(); o.step()
    with torch.no_grad():
        zr = (slog(torch.cat([st(crop(real, i, True)) for i in range(n-ho, n)])) - mu) / sd
        zs = (slog(torch.cat([st(crop(stud, i, True)) for i in range(n-ho, n)])) - mu) / sd
        acc = (float((lin(zr) > 0).float().mean()) + float((lin(zs) <= 0).float().mean())) / 2
    print(f"linear on standardised stats, Adam lr {lr}, 300 steps of 6+6 frames, random crops {random_crops}: held-out frame accuracy {acc:.3f}", flush=True)
