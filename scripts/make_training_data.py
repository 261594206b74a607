"""Builds the precomputed training set (LR/HR clips + teacher outputs) for scripts/train.py.

Example: python scripts/make_training_data.py runs/data/train.npz --clips 800 --teacher animevideov3=800
Add a teacher to an existing file (only the missing clips run): ... runs/data/train.npz --add-teacher x4plus=600
Rebuild a set's HR clips and teachers from its LR clips alone (where x264 is missing, e.g. a lent GPU):
    ... gpu.npz --lr-from slim.npz --teacher animevideov3 --teacher x4plus --teacher-device cuda
(slim.npz, written by `... slim.npz --slim-of train.npz`: the set's `lr`, `meta` and `hr_sha256`, one digest per
HR clip, which the rebuild checks.)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)
import numpy as np

from vsadcvsr.train.data import load_material
from vsadcvsr.train.dataset import add_second_draw, add_teacher, build_dataset


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", type=Path, help=".npz file to write")
    ap.add_argument("--clips", type=int, default=800)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--lr-size", type=int, default=48, help="LR crop side (HR is 4x); a multiple of 16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--teacher", action="append", default=[], metavar="NAME=N",
                    help="precompute teacher NAME (animevideov3, x4plus, x4plus-stable: x4plus averaged along the HR "
                    "clip's motion) for the first N clips; repeatable")
    ap.add_argument("--add-teacher", metavar="NAME=N", help="extend teacher NAME of the existing OUTPUT to its "
                    "first N clips and write nothing else (x4plus-stable: from the file's x4plus outputs)")
    ap.add_argument("--add-second-draw", action="store_true", help="add to the existing OUTPUT a second LR draw of "
                    "each clip (its preset, another seed: lr_alt, for train_phases' --invariance-weight) and write "
                    "nothing else")
    ap.add_argument("--mild-fraction", type=float, default=0.5)
    ap.add_argument("--static-fraction", type=float, default=0.15)
    ap.add_argument("--pan", type=int, default=0, metavar="PX",
                    help="camera pans: each video clip's crop moves by up to PX whole pixels per frame (HR)")
    ap.add_argument("--workers", type=int, default=1, help="processes that degrade clips, or that run "
                    "--add-teacher's teacher (same result for any number)")
    ap.add_argument("--teacher-device", default=None, metavar="DEVICE",
                    help="run the network teachers in torch on this device (cuda, cpu) instead of ncnn on the CPU; "
                    "the same network, equal outputs up to rounding")
    ap.add_argument("--lr-from", type=Path, metavar="FILE", help="take the LR clips and every setting (clips, "
                    "frames, size, seed, fractions, pan) from FILE, a set or its slim copy, instead of degrading: "
                    "rebuilds its HR clips (checked against FILE's hr_sha256 where it has them) and the teachers")
    ap.add_argument("--slim-of", type=Path, metavar="SET", help="write OUTPUT as SET's slim copy (its LR clips, "
                    "settings and a digest of each HR clip: what --lr-from needs) and nothing else")
    a = ap.parse_args(argv)
    if a.slim_of:
        return write_slim(a.slim_of, a.output)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    if a.lr_size % 16:
        ap.error("--lr-size must be a multiple of 16")
    if a.add_second_draw:
        try:
            add_second_draw(a.output, a.workers)
        except (OSError, KeyError, ValueError) as e:
            print(f"make_training_data: {e}", file=sys.stderr)
            return 2
        return 0
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
    lr_from, hashes, lr_alt = None, None, None
    if a.lr_from:
        try:
            with np.load(a.lr_from) as z:
                lr_from, meta = z["lr"], json.loads(str(z["meta"]))
                lr_alt = z["lr_alt"] if "lr_alt" in z.files else None
                hashes = [str(h) for h in z["hr_sha256"]] if "hr_sha256" in z.files else None
        except (OSError, KeyError, ValueError) as e:
            print(f"make_training_data: --lr-from {a.lr_from}: {e}", file=sys.stderr)
            return 2
        a.clips, a.frames, a.lr_size, a.seed = meta["clips"], meta["frames"], meta["lr_size"], meta["seed"]
        a.mild_fraction, a.static_fraction, a.pan = meta["mild_fraction"], meta["static_fraction"], meta.get("pan", 0)
    teachers = {}
    for t in a.teacher:
        name, _, n = t.partition("=")
        teachers[name] = int(n) if n else a.clips
    build_dataset(a.output, load_material(), a.clips, a.frames, a.lr_size, a.seed, teachers,
                  a.mild_fraction, a.static_fraction, a.workers, a.teacher_device, a.pan, lr_from)
    if hashes is not None:
        with np.load(a.output) as z:
            bad = [i for i, (clip, h) in enumerate(zip(z["hr"], hashes)) if hr_digest(clip) != h]
        if bad:
            a.output.unlink()
            print(f"make_training_data: --lr-from: {len(bad)} of {len(hashes)} rebuilt HR clips differ from "
                  f"{a.lr_from}'s (first: clip {bad[0]}); the material differs here: nothing written", file=sys.stderr)
            return 1
        print(f"make_training_data: all {len(hashes)} rebuilt HR clips equal {a.lr_from}'s", file=sys.stderr)
    if lr_alt is not None:  # the set's second LR draw travels in its slim copy too
        add_second_draw(a.output, lr_alt=lr_alt)
    return 0


def write_slim(src: Path, out: Path) -> int:
    """OUT = SET's `lr` (and `lr_alt` where it has one), `meta` and per-clip `hr_sha256` (what a rebuild with
    --lr-from takes and checks)."""
    try:
        with np.load(src) as z:
            lr, meta, hr = z["lr"], z["meta"], z["hr"]
            extra = {"lr_alt": z["lr_alt"]} if "lr_alt" in z.files else {}
    except (OSError, KeyError, ValueError) as e:
        print(f"make_training_data: --slim-of {src}: {e}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, lr=lr, meta=meta, hr_sha256=np.array([hr_digest(c) for c in hr]), **extra)
    print(f"make_training_data: wrote {out} ({len(lr)} clips, {out.stat().st_size / 2**20:.1f} MiB)", file=sys.stderr)
    return 0


def hr_digest(clip: np.ndarray) -> str:
    """SHA-256 of one HR clip's bytes (what a slim copy's `hr_sha256` holds)."""
    return hashlib.sha256(np.ascontiguousarray(clip).tobytes()).hexdigest()


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main, "train"))
