"""Small synthetic VapourSynth clips for the filter's tests (no source plugin, no sample file needed)."""
from __future__ import annotations

import numpy as np
import vapoursynth as vs

core = vs.core


def gradient_clip(fmt: int, w: int = 40, h: int = 24, length: int = 6, smooth: bool = False) -> vs.VideoNode:
    """A moving colour pattern (RGB24 source; `smooth`: gentle gradients only), converted to `fmt`."""
    frames = []
    yy, xx = np.mgrid[0:h, 0:w]
    base = core.std.BlankClip(width=w, height=h, format=vs.RGB24, length=1)
    for i in range(length):
        f = base.get_frame(0).copy()
        pattern = (
            [60 + xx * 3 + i, 80 + yy * 4, 120 + (xx + yy) + i] if smooth
            else [(xx * 6 + i * 9) % 256, (yy * 10 + i * 5) % 256, ((xx + yy) * 3) % 256]
        )
        for p, arr in enumerate(pattern):
            np.asarray(f[p])[:] = arr.astype(np.uint8)
        frames.append(f)
    rgb = core.std.ModifyFrame(core.std.BlankClip(base, length=length), base, lambda n, f: frames[n])
    target = core.get_video_format(fmt)
    if target.color_family == vs.RGB:
        return core.resize.Point(rgb, format=fmt)
    return core.resize.Bicubic(rgb, format=fmt, matrix_s="709")


def frame_array(frame: vs.VideoFrame) -> list[np.ndarray]:
    return [np.array(frame[p]) for p in range(frame.format.num_planes)]
