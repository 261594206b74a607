"""Probe (ninth session): is there a teacher with x4plus's texture and without its flicker? On the selection
frames (2 clips x N frames, mild LR), scores x4plus, animevideov3, the runs' blend (0.65 / 0.35) and the same with
x4plus *stabilised*: each x4plus frame replaced by the mean of its neighbours t-R..t+R warped onto it (DIS flow on
the HR frames, as a training set has them; a neighbour's pixel is used only where the flow passes the
forward-backward check, else frame t's own). PSNR-Y against HR, BRISQUE, E*warp (flow on each output's own frames,
as the evaluation) and the grid score, means over frames; the default model beside them.

  PYTHONPATH=. python docs/results/stage2_2026-12-04_heads/probe_stable_teacher.py [--frames 12] [--radius 2]
"""
import argparse
import json
import sys

import numpy as np

from vsadcvsr.eval.fidelity import psnr_y
from vsadcvsr.eval.grid import clip_grid_score
from vsadcvsr.eval.methods import build_method
from vsadcvsr.eval.no_reference import brisque
from vsadcvsr.eval.selection import selection_clips
from vsadcvsr.eval.warping import warping_error
from vsadcvsr.stdio import stdout_to_stderr
from vsadcvsr.train.teachers import stabilise


def scores(out: np.ndarray, hr: np.ndarray) -> dict[str, float]:
    return {"psnr_y": float(np.mean([psnr_y(h, o) for h, o in zip(hr, out)])),
            "brisque": float(np.mean([brisque(o) for o in out])),
            "ewarp": warping_error(out).value, "grid": clip_grid_score(out)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--radius", type=int, default=2)
    a = ap.parse_args()
    rows: dict[str, list[dict[str, float]]] = {}
    for clip in selection_clips(a.frames):
        outs = {"reference": clip.hr}
        for m in ("ours:default", "realesrgan-animevideov3", "realesrgan-x4plus"):
            meth = build_method(m)
            if hasattr(meth, "load"):
                meth.load()
            with stdout_to_stderr():  # the ncnn wrapper prints progress on fd 1
                outs[m] = meth.upscale(clip.lr)
        x4, anim = outs["realesrgan-x4plus"].astype(np.float32), outs["realesrgan-animevideov3"].astype(np.float32)
        stable = stabilise(outs["realesrgan-x4plus"], clip.hr, a.radius).astype(np.float32)
        outs["blend 0.65/0.35"] = np.rint(0.65 * anim + 0.35 * x4).astype(np.uint8)
        outs[f"x4plus stabilised r{a.radius}"] = stable.astype(np.uint8)
        outs[f"blend with stabilised x4plus r{a.radius}"] = np.rint(0.65 * anim + 0.35 * stable).astype(np.uint8)
        outs[f"blend 0.35/0.65 stabilised r{a.radius}"] = np.rint(0.35 * anim + 0.65 * stable).astype(np.uint8)
        for name, o in outs.items():
            rows.setdefault(name, []).append(scores(o, clip.hr))
        print(clip.name, "done", file=sys.stderr)
    for name, r in rows.items():
        print(json.dumps({"method": name, **{k: round(float(np.mean([x[k] for x in r])), 3) for k in r[0]}}))


if __name__ == "__main__":
    main()
