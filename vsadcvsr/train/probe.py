"""Tools of the probes: a training run opened with its saved state in a `Trainer` that writes nothing to the run,
a logistic regression, and a held-out linear separability test of two sets of feature rows."""
from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .state_file import load_state_file
from .trainer import Trainer


@contextmanager
def open_run(run_dir: str | Path) -> Iterator[Trainer]:
    """A `Trainer` with `run_dir`'s configuration, student, heads and step (`state.pt`), working in a scratch folder
    (nothing it writes reaches the run; no `init`, no calibration: the state has both)."""
    state_path = Path(run_dir) / "state.pt"
    state = load_state_file(state_path)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(**{**json.loads(state["config"]), "run_dir": tmp, "init": None, "disc_calibrate": 0})
        tr = Trainer(cfg)
        if not tr.load_state(state_path):
            raise ValueError(f"open_run: {state_path} is not a state of this run's stage")
        yield tr


def logistic_fit(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None, penalty: float = 1e-3,
                 max_iter: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (F,) and bias (1,) of a logistic regression of labels `y` (N,) in {0, 1} on rows `x` (N, F): the
    (`weight`-weighted, mean 1) log loss plus `penalty` times the squared weights, L-BFGS from zero."""
    if x.ndim != 2 or y.shape != x.shape[:1] or (weight is not None and weight.shape != y.shape):
        raise ValueError(f"logistic_fit: need rows (N, F) with N labels and weights, got {tuple(x.shape)}, "
                         f"{tuple(y.shape)}, {None if weight is None else tuple(weight.shape)}")
    x, y = x.float(), y.float()
    wt = torch.ones_like(y) if weight is None else weight.float() / weight.float().mean()
    w = torch.zeros(x.shape[1], requires_grad=True)
    c = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, c], max_iter=max_iter)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ w + c, y, wt) + penalty * w.pow(2).sum()
        loss.backward()
        return loss
    with torch.enable_grad():
        opt.step(closure)
    return w.detach(), c.detach()


def linear_separability(a: torch.Tensor, b: torch.Tensor, held_out: int, max_iter: int = 300) -> tuple[float, float]:
    """Train and held-out accuracy of a logistic regression telling rows of `a` (label 0) from rows of `b` (label 1).

    `a`, `b`: (clips, rows per clip, features), the same clips in the same order; the last `held_out` clips are held
    out. Features standardised on the training rows; `logistic_fit` (L2 penalty 1e-3)."""
    if a.shape[0] != b.shape[0] or not 0 < held_out < a.shape[0]:
        raise ValueError(f"linear_separability: need the same clips in a and b and 0 < held_out < {a.shape[0]}, got "
                         f"{a.shape[0]}, {b.shape[0]} clips, held_out {held_out}")
    n = a.shape[0]
    x = torch.cat([a, b], 1).float()
    y = torch.cat([torch.zeros(a.shape[1]), torch.ones(b.shape[1])]).expand(n, -1)
    x_tr, y_tr = x[:-held_out].flatten(0, 1), y[:-held_out].flatten()
    x_te, y_te = x[-held_out:].flatten(0, 1), y[-held_out:].flatten()
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
    z_tr, z_te = (x_tr - mu) / sd, (x_te - mu) / sd
    w, c = logistic_fit(z_tr, y_tr, max_iter=max_iter)
    return (float((((z_tr @ w + c) > 0).float() == y_tr).float().mean()),
            float((((z_te @ w + c) > 0).float() == y_te).float().mean()))
