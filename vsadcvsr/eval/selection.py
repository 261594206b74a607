"""Scores for choosing among training exports without looking at the frames `scripts/evaluate.py` reports.

The selection frames: bikes.mp4 frames 165-177 and 217-229 (`vsadcvsr.material.BIKES_SELECTION_RANGES`, inside the
held-out shots, after the 25 frames the evaluation takes from each), centre crop to 512 px wide output, x4, the
evaluation's mild degradation (seed 0); scored by the evaluation's own runner (PSNR-Y, BRISQUE, E*warp and the
sub-pixel grid score of `vsadcvsr.eval.grid`).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from ..material import BIKES_SELECTION_RANGES
from ..stdio import stdout_to_stderr
from .clips import bikes_path, crop_box, read_frames
from .degrade import make_lr
from .methods import Method
from .runner import Clip, evaluate

log = logging.getLogger(__name__)
METRICS = ("psnr_y", "brisque", "ewarp", "grid", "x265_bpp")


def selection_clips(frames: int | None = None) -> list[Clip]:
    """The selection ranges as evaluation clips (the first `frames` of each where given)."""
    out = []
    for a, b in BIKES_SELECTION_RANGES:
        hr = read_frames(bikes_path(), a, b if frames is None else min(b, a + frames))
        y0, x0, h, w = crop_box(hr.shape[1], hr.shape[2], 512, 512, 4)
        hr = np.ascontiguousarray(hr[:, y0:y0 + h, x0:x0 + w])
        lr, how = make_lr(hr, "mild", 4, 0)
        out.append(Clip(f"bikes[{a}:{b}]", hr, lr, how))
    return out


def score_methods(methods: Sequence[Method], frames: int | None = None,
                  reference: bool = False) -> list[dict[str, object]]:
    """One row per method: its name, the mean of each of `METRICS` over the selection frames (3 decimals) and the
    number of frames scored; with `reference`, first a row of the HR frames' own no-reference scores (the floor).
    Evaluation notes go to the log."""
    clips = selection_clips(frames)
    with stdout_to_stderr():  # the ncnn peers print progress on fd 1
        ev = evaluate(clips, list(methods), METRICS, keep_outputs=False)
    for note in ev.notes:
        log.warning("%s", note)
    rows: list[dict[str, object]] = []
    if reference:
        ref = ev.reference_mean()
        rows.append({"method": "reference", **{k: round(ref[k], 3) for k in METRICS if k in ref}})
    for name in ev.methods():
        m = ev.mean(name)
        rows.append({"method": name, **{k: round(m.values[k], 3) for k in METRICS}, "frames": m.frames})
    return rows
