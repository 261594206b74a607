"""Builds the precomputed training set (LR/HR clips + teacher outputs) for scripts/train.py.

Example: python scripts/make_training_data.py runs/data/train.npz --clips 800 --teacher animevideov3=800
Add a teacher to an existing file (only the missing clips run): ... runs/data/train.npz --add-teacher x4plus=600
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)

from vsadcvsr.train.data import load_material
from vsadcvsr.train.dataset import add_teacher, build_dataset


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", type=Path, help=".npz file to write")
    ap.add_argument("--clips", type=int, default=800)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--lr-size", type=int, default=48, help="LR crop side (HR is 4x); a multiple of 16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--teacher", action="append", default=[], metavar="NAME=N",
                    help="precompute teacher NAME (animevideov3, x4plus) for the first N clips; repeatable")
    ap.add_argument("--add-teacher", metavar="NAME=N", help="extend teacher NAME of the existing OUTPUT to its "
                    "first N clips and write nothing else")
    ap.add_argument("--mild-fraction", type=float, default=0.5)
    ap.add_argument("--static-fraction", type=float, default=0.15)
    ap.add_argument("--pan", type=int, default=0, metavar="PX",
                    help="camera pans: each video clip's crop moves by up to PX whole pixels per frame (HR)")
    ap.add_argument("--workers", type=int, default=1, help="processes that degrade clips, or that run "
                    "--add-teacher's teacher (same result for any number)")
    ap.add_argument("--teacher-device", default=None, metavar="DEVICE",
                    help="run the network teachers in torch on this device (cuda, cpu) instead of ncnn on the CPU; "
                    "the same network, equal outputs up to rounding")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    if a.lr_size % 16:
        ap.error("--lr-size must be a multiple of 16")
    if a.add_teacher:
        name, _, n = a.add_teacher.partition("=")
        if not n.isdigit():
            ap.error("--add-teacher takes NAME=N")
        try:
            add_teacher(a.output, name, int(n), a.workers, a.teacher_device)
        except (OSError, ValueError) as e:
            print(f"make_training_data: {e}", file=sys.stderr)
            return 2
        return 0
    teachers = {}
    for t in a.teacher:
        name, _, n = t.partition("=")
        teachers[name] = int(n) if n else a.clips
    build_dataset(a.output, load_material(), a.clips, a.frames, a.lr_size, a.seed, teachers,
                  a.mild_fraction, a.static_fraction, a.workers, a.teacher_device, a.pan)
    return 0


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main, "train"))
