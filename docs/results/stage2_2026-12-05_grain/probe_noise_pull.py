"""Which loss term turns a noise input up or down? From the repository root:
    .venv/bin/python docs/results/stage2_2026-12-05_grain/probe_noise_pull.py RUN_DIR [BATCHES]
Loads a compact-noise run's state.pt into a scratch copy (train/probe.py) and, on BATCHES unseen training batches,
takes each term's derivative along the noise weights' own direction, d/da L(W (1 + a)) at a = 0 = <dL/dW, W>:
negative means the term asks for more of the noise (louder grain), positive for less. Terms: the adversarial one,
the grid term, the draw term, the local-contrast, perceptual and low-band terms, and the rest (pixel L1), each with
its run weight."""
import sys
from pathlib import Path

import torch

from vsadcvsr.train.probe import open_run

torch.set_num_threads(1)
run, n = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 6
with open_run(run) as tr:
    cfg = tr.cfg
    w = tr.gen.student.noise_in.weight
    names = {"adv": "adv_pixel_weight", "grid": "grid_weight", "draw": "invariance_weight",
             "contrast": "contrast_weight", "perceptual": "perceptual_weight", "lowband": "lowband_weight"}
    weights = {k: getattr(cfg, v) for k, v in names.items()}

    def pull(off: tuple[str, ...]) -> float:
        for k, v in weights.items():
            setattr(tr.cfg, names[k], 0.0 if k in off else v)
        loss = tr.generator_losses(b)[0]
        (g,) = torch.autograd.grad(loss, [w])
        return float((g * w.detach()).sum())

    at = tr.step
    rows = []
    for i in range(n):
        for k, v in weights.items():
            setattr(tr.cfg, names[k], v)
        tr.step = 10**8 + i
        b = tr.batch(tr.step)
        total = pull(())
        parts = {k: total - pull((k,)) for k in weights}
        rows.append([total, *parts.values(), total - sum(parts.values())])
    med = torch.tensor(rows).median(0).values.tolist()
    print(f"{run.name} at step {at}: "
          f"noise weights std {float(w.std()):.4f}; pull along W (median of {n} batches; < 0 asks for louder noise): "
          + ", ".join(f"{k} {v:+.2e}" for k, v in zip(["total", *weights, "rest"], med)))
