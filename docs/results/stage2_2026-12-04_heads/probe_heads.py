"""Can the stage-2 DepthHeads (detail part) learn real-vs-student at a run's pace once their statistics are
standardised (`--disc-calibrate`), with their own learning rate (`--d-stats-lr`) and several updates per student
step (`--d-steps`)? As run on 2026-12-04 from the repository root:
    .venv/bin/python docs/results/stage2_2026-12-04_heads/probe_heads.py /work/scratch/probe/cache96.pt
on the cache of `python scripts/probe_consistency.py --stats --cache ...` (x4plus conv-6 features of 240 real
5-frame clips, 96 px, and of the shipped student's output of their mild LR; the last 60 clips held out). Each
"step" draws 2 training clips x 3 frames per side at random 64-px places, as a run's discriminator step does.
`--flat F`: the last setting only, the heads' statistics over the flattest F of each frame
(`--disc-flat`). Prints held-out accuracy (per frame, centre crops) of the statistics part, the spatial part and both (the mean of the
parts' mean logits, as the loss weighs them)."""
import sys

import numpy as np
import torch
import torch.nn.functional as F

from vsadcvsr.train.discriminators import DepthHeads

torch.set_num_threads(2)
c = torch.load(sys.argv[1]); c.pop('made_by', None)
real, stud = c['real'], c['student']  # (240, 5, 64, 96, 96) fp16
n, ho = real.shape[0], 60
FLAT = float(sys.argv[sys.argv.index("--flat") + 1]) if "--flat" in sys.argv else 1.0  # --disc-flat's statistics


def run(calibrate: bool, lr: float, stats_lr: float, d_steps: int, steps: int = 300, seed: int = 0) -> list[float]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = DepthHeads(64, flat=FLAT)
    if calibrate:  # 64 real training clips, 3 frames at a random 64-px place each (as --disc-calibrate 64)
        idx = rng.choice(n - ho, 64, replace=False)
        f = torch.cat([crop(real, i, rng) for i in idx])
        head.calibrate(f, 3)
    stats = head.statistics_parameters()
    ids = {id(p) for p in stats}
    groups = [{"params": [p for p in head.parameters() if id(p) not in ids], "lr": lr},
              {"params": stats, "lr": stats_lr}]
    opt = torch.optim.Adam(groups, betas=(0.5, 0.999))
    for _ in range(steps):
        idx = rng.choice(n - ho, 2, replace=False)
        for _ in range(d_steps):  # new places of the same clips, as the trainer's repeated updates
            xr = torch.cat([crop(real, i, rng) for i in idx]); xs = torch.cat([crop(stud, i, rng) for i in idx])
            pr, ps = head(xr, 3)[0], head(xs, 3)[0]
            loss = (torch.stack([F.softplus(-p).mean() for p in pr]).mean()
                    + torch.stack([F.softplus(p).mean() for p in ps]).mean()) / 2
            opt.zero_grad(); loss.backward(); opt.step()
    hits = []
    with torch.no_grad():
        for i in range(n - ho, n):
            for x, lab in ((real, 1), (stud, 0)):
                parts = head(x[i, 1:4, :, 16:80, 16:80].float(), 3)[0]
                s = torch.stack([p.mean(-1) for p in parts])  # (parts, 1, 3): per-frame score of each part
                hits.append([float(((s[1] > 0) == bool(lab)).float().mean()),
                             float(((s[0] > 0) == bool(lab)).float().mean()),
                             float(((s.mean(0) > 0) == bool(lab)).float().mean())])
    return list(np.mean(hits, 0))


def crop(x: torch.Tensor, i: int, rng: np.random.Generator) -> torch.Tensor:
    y0, x0 = rng.integers(0, 33, 2); t0 = rng.integers(0, 3)
    return x[i, t0:t0 + 3, :, y0:y0 + 64, x0:x0 + 64].float()


print(f"held-out accuracy: statistics part / spatial part / both{f' (statistics over the flattest {FLAT})' if FLAT < 1 else ''}")
configs = (("as the runs so far (d_lr 2e-4)", dict(calibrate=False, lr=2e-4, stats_lr=2e-4, d_steps=1)),
                 ("calibrated", dict(calibrate=True, lr=2e-4, stats_lr=2e-4, d_steps=1)),
                 ("calibrated, stats lr 2e-3", dict(calibrate=True, lr=2e-4, stats_lr=2e-3, d_steps=1)),
                 ("calibrated, stats lr 2e-3, 4 updates per step", dict(calibrate=True, lr=2e-4, stats_lr=2e-3, d_steps=4)),
                 ("calibrated, stats lr 1e-2, 4 updates per step", dict(calibrate=True, lr=2e-4, stats_lr=1e-2, d_steps=4)))
for name, kw in configs[-1:] if FLAT < 1 else configs:  # with --flat: the setting the runs use
    acc = run(**kw)
    print(f"{name}, 300 steps: {acc[0]:.3f} / {acc[1]:.3f} / {acc[2]:.3f}", flush=True)
