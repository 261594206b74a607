"""PSNR-Y of a student vs Lanczos on the held-out bikes shots, x4, mild degradation (a quick training check).

Example: python scripts/check_psnr.py runs/tiny-s1/state.pt
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)
import torch

from vsadcvsr.train.state_file import StateFileError
from vsadcvsr.train.validate import eval_clips, load_student, teacher_psnr_y, validate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help=".safetensors checkpoints or trainer state.pt files")
    ap.add_argument("--teachers", nargs="*", default=[], help="also measure these teachers (animevideov3, x4plus)")
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--per-shot", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    torch.set_num_threads(a.threads)
    try:
        students = [load_student(m) for m in a.models]
    except StateFileError as e:
        print(f"check_psnr: {e}", file=sys.stderr)
        return 1
    clips = eval_clips(a.frames, a.per_shot)
    for m, student in zip(a.models, students):
        r = validate(student, clips)
        print(json.dumps({"model": m, "psnr_y": round(r.psnr_y_model, 3), "psnr_y_cc": round(r.psnr_y_model_cc, 3),
                          "psnr_y_wavelet": round(r.psnr_y_model_wavelet, 3),
                          "psnr_y_lanczos": round(r.psnr_y_lanczos, 3), "frames": r.frames}))
    for t in a.teachers:
        print(json.dumps({"teacher": t, "psnr_y": round(teacher_psnr_y(t, clips), 3)}))
    return 0


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main, "train"))
