"""Scores checkpoints (or any evaluation method) on the held-out selection frames: PSNR-Y, BRISQUE, E*warp.

For choosing among training exports without looking at the frames `scripts/evaluate.py` reports: bikes.mp4 frames
165-177 and 217-229 (`vsadcvsr.train.splits.BIKES_SELECTION_RANGES`, inside the held-out shots, after the 25
frames the evaluation takes from each), centre crop to 512 px wide output, x4, the evaluation's mild degradation
(seed 0); scored by the evaluation's own runner. One JSON line per method on stdout.

Example: python scripts/select_model.py lanczos ours:default ours:runs/a/tiny-p0.safetensors
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from vsadcvsr.eval.clips import bikes_path, crop_box, read_frames  # noqa: E402
from vsadcvsr.eval.degrade import make_lr  # noqa: E402
from vsadcvsr.eval.methods import build_method  # noqa: E402
from vsadcvsr.eval.runner import Clip, evaluate  # noqa: E402
from vsadcvsr.stdio import stdout_to_stderr  # noqa: E402
from vsadcvsr.train.splits import BIKES_SELECTION_RANGES  # noqa: E402

METRICS = ("psnr_y", "brisque", "ewarp")


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("methods", nargs="+", help="as scripts/evaluate.py: lanczos, ours:FILE, ours:default, ...")
    ap.add_argument("--frames", type=int, default=None, help="only the first N frames of each range")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    try:
        methods = [build_method(s) for s in a.methods]  # a bad name is refused before any work
    except ValueError as e:
        print(f"select_model: {e}", file=sys.stderr)
        return 2
    clips = selection_clips(a.frames)
    for spec, m in zip(a.methods, methods):
        m.name = spec  # exports of different runs share file names (runs/*/tiny-p0.safetensors)
    with stdout_to_stderr():  # the ncnn peers print progress on fd 1, where the scores go
        ev = evaluate(clips, methods, METRICS, keep_outputs=False)
    for note in ev.notes:
        print(f"select_model: {note}", file=sys.stderr)
    for name in ev.methods():
        m = ev.mean(name)
        print(json.dumps({"method": name, **{k: round(m.values[k], 3) for k in METRICS}, "frames": m.frames}),
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
