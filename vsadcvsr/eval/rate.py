"""What an output costs to encode: its size under x265 at a fixed CRF, in bits per pixel.

Grain and sub-pixel patterns lower BRISQUE and raise the bitrate; real detail costs bits too. Read beside the
no-reference scores: a method that buys BRISQUE with bits the reference does not spend is adding noise.
"""
from __future__ import annotations

import subprocess

import numpy as np

from .vmaf import VmafUnavailable, ffmpeg_exe

#: x265 settings of the figure (constant quality, 8-bit 4:2:0, one frame thread so that it is reproducible).
CRF = 22
PRESET = "medium"


class RateUnavailable(RuntimeError):
    """No FFmpeg with libx265 on this machine."""


def x265_bits_per_pixel(clip: np.ndarray, crf: int = CRF, preset: str = PRESET) -> float:
    """Size of `clip` (T, H, W, 3) uint8 RGB, H and W even, encoded by x265 at `crf` (8-bit 4:2:0, 25 fps), in bits
    per pixel of the clip."""
    if clip.ndim != 4 or clip.shape[-1] != 3 or clip.dtype != np.uint8:
        raise ValueError(f"x265_bits_per_pixel: need a (T, H, W, 3) uint8 clip, got {clip.shape} {clip.dtype}")
    t, h, w, _ = clip.shape
    if h % 2 or w % 2:
        raise ValueError(f"x265_bits_per_pixel: {w}x{h} is not even in both dimensions")
    try:
        exe = ffmpeg_exe()
    except VmafUnavailable as e:
        raise RateUnavailable(str(e)) from None
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", "25", "-i", "-", "-c:v", "libx265", "-preset", preset, "-crf", str(crf),
           "-pix_fmt", "yuv420p", "-x265-params", "log-level=error:frame-threads=1", "-f", "hevc", "-"]
    res = subprocess.run(cmd, input=np.ascontiguousarray(clip).tobytes(), capture_output=True)
    if res.returncode != 0:
        raise RateUnavailable(f"ffmpeg libx265 failed ({res.returncode}): "
                              f"{res.stderr.decode(errors='replace').strip()[-300:]}")
    return 8.0 * len(res.stdout) / (t * h * w)
