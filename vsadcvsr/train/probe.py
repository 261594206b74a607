"""A training run opened for a probe: its saved state in a `Trainer` that writes nothing to the run."""
from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
