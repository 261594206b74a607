"""Scores checkpoints (or any evaluation method) on the held-out selection frames: PSNR-Y, BRISQUE, E*warp.

For choosing among training exports without looking at the frames `scripts/evaluate.py` reports: bikes.mp4 frames
165-177 and 217-229 (`vsadcvsr.train.splits.BIKES_SELECTION_RANGES`, inside the held-out shots, after the 25
frames the evaluation takes from each), centre crop to 512 px wide output, x4, the evaluation's mild degradation
(seed 0). BRISQUE on every other frame. One JSON line per method on stdout.

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
from vsadcvsr.eval.fidelity import psnr_y  # noqa: E402
from vsadcvsr.eval.methods import build_method  # noqa: E402
from vsadcvsr.eval.no_reference import brisque  # noqa: E402
from vsadcvsr.eval.warping import warping_error  # noqa: E402
from vsadcvsr.stdio import stdout_to_stderr  # noqa: E402
from vsadcvsr.train.splits import BIKES_SELECTION_RANGES  # noqa: E402


def selection_clips(frames: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(HR, LR) uint8 clips of the selection ranges (the first `frames` of each where given)."""
    out = []
    for a, b in BIKES_SELECTION_RANGES:
        hr = read_frames(bikes_path(), a, b if frames is None else min(b, a + frames))
        y0, x0, h, w = crop_box(hr.shape[1], hr.shape[2], 512, 512, 4)
        hr = hr[:, y0:y0 + h, x0:x0 + w]
        out.append((hr, make_lr(hr, "mild", 4, 0)[0]))
    return out


def score(method: str, clips: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, object]:
    m = build_method(method)
    ps, bs, ws = [], [], []
    for hr, lr in clips:
        with stdout_to_stderr():  # the ncnn peers print progress on fd 1, where the scores go
            o = m.upscale(lr)
        ps.append(np.mean([psnr_y(hr[t], o[t]) for t in range(len(hr))]))
        bs.append(np.mean([brisque(f) for f in o[::2]]))
        ws.append(warping_error(o).value)
    return {"method": method, "psnr_y": round(float(np.mean(ps)), 3), "brisque": round(float(np.mean(bs)), 2),
            "ewarp": round(float(np.mean(ws)), 3), "clips": len(clips), "frames": sum(len(h) for h, _ in clips)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("methods", nargs="+", help="as scripts/evaluate.py: lanczos, ours:FILE, ours:default, ...")
    ap.add_argument("--frames", type=int, default=None, help="only the first N frames of each range")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    try:
        for spec in a.methods:
            build_method(spec)  # refuse a bad name before any work
    except ValueError as e:
        print(f"select_model: {e}", file=sys.stderr)
        return 2
    clips = selection_clips(a.frames)
    for spec in a.methods:
        print(json.dumps(score(spec, clips)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
