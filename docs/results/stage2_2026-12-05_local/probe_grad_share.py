"""How much of the student's update does the adversary steer? (eleventh session.) From the repository root:
    .venv/bin/python docs/results/stage2_2026-12-05_local/probe_grad_share.py RUN_DIR [BATCHES]
Loads the run's state.pt (its configuration, student, heads) into a scratch copy, and for BATCHES training
batches (steps 10**8 + i, not ones the run saw) takes the student's gradient of the whole generator loss and of the
loss without the adversarial term (and without the grid term); prints the norms, the adversarial part's norm and
its cosine with the rest, and the grid term's part.
With --grad-clip 2 (train_phases' default) every update is the total gradient scaled to norm 2, so the share that
matters is the adversarial part's against the rest, not its absolute size."""
import sys
from pathlib import Path

import torch

from vsadcvsr.train.probe import open_run

torch.set_num_threads(1)
run, n = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 8
with open_run(run) as tr:
    cfg = tr.cfg
    at, w_adv = tr.step, cfg.adv_pixel_weight
    params = [p for p in tr.gen.parameters() if p.requires_grad]

    w_grid = cfg.grid_weight

    def grad(adv: float, grid: float | None = None) -> torch.Tensor:
        tr.cfg.adv_pixel_weight = adv
        tr.cfg.grid_weight = w_grid if grid is None else grid
        loss = tr.generator_losses(b)[0]
        g = torch.autograd.grad(loss, params, allow_unused=True)
        return torch.cat([(x if x is not None else torch.zeros_like(p)).flatten() for x, p in zip(g, params)])

    rows = []
    for i in range(n):
        tr.step = 10**8 + i  # unseen batches and crop places
        b = tr.batch(tr.step)
        g_all, g_reg = grad(w_adv), grad(0.0)
        g_adv, g_grid = g_all - g_reg, g_all - grad(w_adv, 0.0)
        rows.append((float(g_all.norm()), float(g_reg.norm()), float(g_adv.norm()),
                     float(torch.nn.functional.cosine_similarity(g_adv, g_reg, 0)), float(g_grid.norm())))
    t = torch.tensor(rows).median(0).values.tolist()
    print(f"{run.name} at step {at} (adversary {w_adv}), medians of {n} batches: |total| {t[0]:.3g}, "
          f"|without adversary| {t[1]:.3g}, |adversarial part| {t[2]:.3g} ({t[2] / t[1]:.1%} of the rest), "
          f"cosine with the rest {t[3]:+.2f}; |grid term's part| {t[4]:.3g} (weight {w_grid})", flush=True)
