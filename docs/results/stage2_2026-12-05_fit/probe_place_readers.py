"""Which reader of the per-place statistics tells the real video from the student while calling grain fake?
(fifteenth session, issue #17.) From the repository root:
    .venv/bin/python docs/results/stage2_2026-12-05_fit/probe_place_readers.py RUN_DIR [BATCHES]
The rows of `fit_place_heads.collect_rows` (what RUN_DIR's per-place heads see, BATCHES unseen batches, the first
3/4 to fit, the rest held out), read by: a logistic regression (the heads' `place_detail`) with and without grain
as a negative; the same on the statistics and their squares; a two-layer MLP (hidden 64, `fit_place_heads.mlp_fit`:
LeakyReLU, Adam, weighted log loss, 400 full-batch steps). Per reader: the held-out share of each sample type called
right and the mean held-out logit of each, with the probe sample "student + the real video's own fine detail" (never
fitted), which a reader that rewards real texture scores above the student."""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from fit_place_heads import collect_rows, labelled, mlp_fit  # noqa: E402

from vsadcvsr.train.probe import logistic_fit, open_run  # noqa: E402

Reader = Callable[[torch.Tensor], torch.Tensor]


def linear(x: torch.Tensor, y: torch.Tensor, wt: torch.Tensor) -> Reader:
    w, c = logistic_fit(x, y, wt)
    return lambda z: z @ w + c


def quadratic(x: torch.Tensor, y: torch.Tensor, wt: torch.Tensor) -> Reader:
    w, c = logistic_fit(torch.cat([x, x * x], 1), y, wt)
    return lambda z: torch.cat([z, z * z], 1) @ w + c


def mlp(x: torch.Tensor, y: torch.Tensor, wt: torch.Tensor) -> Reader:
    net = mlp_fit(x, y, wt, 64)
    return lambda z: net(z)[:, 0].detach()


def main() -> None:
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    run, n = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 64
    cut = (3 * n) // 4
    with open_run(run) as tr:
        rows = collect_rows(tr, n, probe=True)
        depths = tr.cfg.disc_depths
    print(f"{run.name} at step {tr.step}, {n} batches ({cut} fitted, {n - cut} held out); held-out share called "
          "right / mean logit per sample type")
    for h, depth in enumerate(depths):
        for name, fit, share in (("linear, no grain negative", linear, 0.0), ("linear", linear, 1 / 3),
                                 ("quadratic", quadratic, 1 / 3), ("MLP 64", mlp, 1 / 3)):
            x, y, wt, _ = labelled(rows, h, slice(0, cut), share)
            read = fit(x, y, wt)
            parts = []
            for k in rows:
                z = torch.cat(rows[k][h][cut:])
                logit = read(z)
                right = (logit > 0) if k == "real_video" else (logit <= 0)
                parts.append(f"{k} {float(right.float().mean()):.2f} / {float(logit.mean()):+.2f}"
                             if not k.startswith("probe") else f"{k} — / {float(logit.mean()):+.2f}")
            print(f"conv {depth}, {name}: " + "; ".join(parts), flush=True)


if __name__ == "__main__":
    main()
