# As run on 2026-12-04 (seventh session), from the repository root with .venv/bin/python, on the cache written by
# `python scripts/probe_consistency.py --stats --cache /work/scratch/probe/cache96.pt` (x4plus conv-6 features of 240
# real 5-frame clips, 96 px, and of the shipped student's output of their mild LR; the last 60 clips held out).
# Part 1: a logistic regression on channel mean/std tells real from student frames; part 2: the stage-2
# DepthHeads detail parts trained with Adam as in a run (2 clips x 3 frames per side per step). Output: probe_detail.txt
import sys, numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, '/work/main')
from vsadcvsr.train.discriminators import DepthHeads
torch.set_num_threads(1)
c = torch.load('/work/scratch/probe/cache96.pt'); c.pop('made_by', None)
real, stud = c['real'], c['student']            # (240, 5, 64, 96, 96) fp16
n = real.shape[0]; ho = 60
def stats(x):  # per frame channel mean/std on a 64-px centre crop
    x = x[..., 16:80, 16:80].float()
    return torch.cat([x.mean((-1, -2)), x.std((-1, -2))], -1)  # (N, T, 128)
sr, ss = stats(real), stats(stud)
X = torch.cat([sr.reshape(-1, 128), ss.reshape(-1, 128)]); y = torch.cat([torch.ones(n*5), torch.zeros(n*5)])
tr = torch.cat([torch.arange(0, (n-ho)*5), n*5 + torch.arange(0, (n-ho)*5)])
te = torch.cat([torch.arange((n-ho)*5, n*5), n*5 + torch.arange((n-ho)*5, n*5)])
Xs = torch.sign(X) * torch.log1p(X.abs()); mu, sd = Xs[tr].mean(0), Xs[tr].std(0) + 1e-6; Z = (Xs - mu) / sd
w = torch.zeros(128, requires_grad=True); b = torch.zeros(1, requires_grad=True)
opt = torch.optim.LBFGS([w, b], max_iter=500)
def closure():
    opt.zero_grad(); l = F.binary_cross_entropy_with_logits(Z[tr] @ w + b, y[tr]) + 1e-3 * w.pow(2).sum(); l.backward(); return l
opt.step(closure)
acc = lambda idx: float((((Z[idx] @ w + b) > 0).float() == y[idx]).float().mean())
print(f"logistic regression on conv-6 channel mean/std (64 px): train {acc(tr):.3f} held-out {acc(te):.3f}")
# the stage-2 DepthHeads detail parts, Adam 2e-4, batches of 6 frames per side (as a run's 2 clips x 3 frames)
for lr, steps in ((2e-4, 300), (2e-4, 1500), (2e-3, 300)):
    torch.manual_seed(0); head = DepthHeads(64); o = torch.optim.Adam(head.parameters(), lr=lr, betas=(0.5, 0.999))
    rng = np.random.default_rng(0)
    def crop(x, i):  # 64-px crop of clip i's 3 frames at a random place
        y0, x0 = rng.integers(0, 33, 2); t0 = rng.integers(0, 3)
        return x[i, t0:t0+3, :, y0:y0+64, x0:x0+64].float()
    for s in range(steps):
        idx = rng.choice(n - ho, 2, replace=False)
        xr = torch.cat([crop(real, i) for i in idx]); xs = torch.cat([crop(stud, i) for i in idx])
        pr, ps = head(xr, 3)[0], head(xs, 3)[0]
        loss = (torch.stack([F.softplus(-p).mean() for p in pr]).mean() + torch.stack([F.softplus(p).mean() for p in ps]).mean()) / 2
        o.zero_grad(); loss.backward(); o.step()
    with torch.no_grad():
        a = []
        for i in range(n - ho, n):
            for x, lab in ((real, 1), (stud, 0)):
                f = x[i, 1:4, :, 16:80, 16:80].float()
                sc = torch.stack([p.flatten(1).mean(1) for p in head(f, 3)[0]]).mean()
                a.append(float((sc > 0) == bool(lab)))
    print(f"DepthHeads detail, lr {lr}, {steps} steps: held-out clip accuracy {np.mean(a):.3f}")

# ---- part 3 (detail_norm3.py): the statistics standardised with the first batch's, accuracy per part ----
# class NormHeads(DepthHeads):
#     def __init__(self, c):
#         super().__init__(c); self.register_buffer('mu', torch.zeros(2 * c)); self.register_buffer('sd', torch.zeros(2 * c))
#     def forward(self, f, frames):
#         n, c = f.shape[:2]; b = n // frames
#         h = F.leaky_relu(self.stem(f), 0.2); h = F.leaky_relu(self.spatial_a(h), 0.2)
#         h = F.leaky_relu(self.temporal(h, frames), 0.2); h = F.leaky_relu(self.spatial_b(h), 0.2)
#         d = self.head_detail(h).reshape(b, frames, -1)
#         st = _signed_log(torch.cat([f.mean((2, 3)), f.std((2, 3))], 1))
#         if not bool(self.sd.any()):
#             self.mu.copy_(st.detach().mean(0)); self.sd.copy_(st.detach().std(0) + 1e-3)
#         st = (st - self.mu) / self.sd
#         sd = self.stats_detail(st).view(b, frames, 1)
#         return [d, sd], []
