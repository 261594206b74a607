"""Trains in timed phases (each with its own learning rate), exporting the student after each phase.

For a machine lent for a fixed time (a GPU for minutes): the run is bounded by the clock, not by a step count, and
every phase leaves a usable checkpoint (a phase cut short by SIGTERM: `-pN-partial`). Resumes RUN_DIR/state.pt
like scripts/train.py; with phases that end at a step of the run (`LR:SECONDS:@STEP`) the same command, run again,
carries an interrupted run on where it stood (finished phases skipped, exports under the same names).

Example (stage 1 from an earlier state, then two phases of stage 2 on its result):
  python scripts/train_phases.py --data runs/data/gpu.npz --run-dir runs/a1 --init runs/tiny-s1/state.pt \
      --batch 12 --crop 64 --frames 5 --phases 2e-4:160 5e-5:70 --export runs/a1/tiny
  python scripts/train_phases.py --data runs/data/gpu.npz --run-dir runs/a2 --stage 2 --init runs/a1/state.pt \
      --batch 8 --crop 64 --frames 5 --phases 2e-5:45 2e-5:45 --adv-pixel-weight 0.1 --adv-feature-weight 0.1 \
      --export runs/a2/tiny
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)
import torch

from vsadcvsr.train.options import add_run_options, config_from_args
from vsadcvsr.train.runtime import set_cuda_precision
from vsadcvsr.train.trainer import Trainer


def _phase(text: str) -> tuple[float, float, int, bool]:
    """LR:SECONDS, LR:SECONDS:STEPS or LR:SECONDS:@STEP → (lr, seconds, steps, absolute). The phase ends at
    whichever comes first: its time, STEPS more steps, or the run's step STEP (absolute: the same end however
    often the run is resumed; a phase whose end the run has passed is skipped)."""
    parts = text.split(":")
    bad = f"a phase is LR:SECONDS, LR:SECONDS:STEPS or LR:SECONDS:@STEP, not {text!r}"
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(bad)
    absolute = len(parts) == 3 and parts[2].startswith("@")
    try:
        lr, seconds = float(parts[0]), float(parts[1])
        steps = int(parts[2].removeprefix("@")) if len(parts) == 3 else 0
    except ValueError:
        raise argparse.ArgumentTypeError(bad) from None
    if lr <= 0 or seconds <= 0 or steps < 0 or (absolute and steps == 0):
        raise argparse.ArgumentTypeError(f"a phase needs a positive learning rate, time and end step, not {text!r}")
    return lr, seconds, steps, absolute


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_options(ap, "phases")
    ap.add_argument("--phases", type=_phase, nargs="+", required=True, metavar="LR:SECONDS[:STEPS|:@STEP]",
                    help="one per phase; with STEPS a phase also ends after that many steps (runs that compare "
                    "recipes end at the same step on any machine), with @STEP at the run's step STEP (the same "
                    "command resumes an interrupted run: finished phases are skipped, exports keep their names)")
    ap.add_argument("--export", type=Path, default=None, help="prefix: PREFIX-pN.safetensors after phase N (fp16)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if torch.cuda.is_available():
        set_cuda_precision(a.tf32)
        torch.backends.cudnn.benchmark = True
    cfg = config_from_args(a, steps=10**9, lr=a.phases[0][0], lr_halve_at=1.0)
    trainer = Trainer(cfg)
    logging.getLogger(__name__).info("config %s phases %s", json.dumps(cfg.to_json()), a.phases)
    trainer.load_state()  # the step a resumed run is at, for the phases' step limits
    log = logging.getLogger(__name__)
    for i, (lr, seconds, steps, absolute) in enumerate(a.phases):
        if absolute and trainer.step >= steps:
            log.info("phase %d ends at step %d; the run is at step %d: skipped", i, steps, trainer.step)
            continue
        trainer.cfg.lr = lr
        reason = trainer.fit(max_seconds=seconds, until=steps if absolute else trainer.step + steps if steps else None)
        log.info("phase %d (lr %g, %g s, %s%d steps) ended at step %d", i, lr, seconds, "until " * absolute, steps,
                 trainer.step)
        if a.export is not None:  # a phase cut short by SIGTERM is exported as -pN-partial, not as a finished one
            name = f"{a.export}-p{i}{'-partial' if reason == 'signal' else ''}.safetensors"
            trainer.export(name, extra={"phases": json.dumps(a.phases[: i + 1]), "phase_ended_by": reason},
                           dtype=torch.float16)
        if reason == "signal":  # SIGTERM ends the run, not only the phase
            break
    return 0


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main, "train"))
