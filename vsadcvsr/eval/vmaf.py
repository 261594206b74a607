"""VMAF-NEG (libvmaf model `vmaf_v0.6.1neg`, no enhancement gain) through imageio-ffmpeg's static FFmpeg."""
from __future__ import annotations

import json
import logging
import subprocess
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODEL = "version=vmaf_v0.6.1neg"


class VmafUnavailable(RuntimeError):
    """No FFmpeg with libvmaf on this machine."""


def ffmpeg_exe() -> str:
    """imageio-ffmpeg's FFmpeg (built with libvmaf); VmafUnavailable if the package is missing."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise VmafUnavailable("imageio-ffmpeg is not installed (its FFmpeg has libvmaf)") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def _to_uint8(clip: np.ndarray) -> np.ndarray:
    if clip.dtype == np.uint8:
        return np.ascontiguousarray(clip)
    return np.clip(np.rint(clip * 255.0), 0, 255).astype(np.uint8)


def vmaf_neg(ref: np.ndarray, dist: np.ndarray, threads: int = 2) -> list[float]:
    """Per-frame VMAF-NEG of `dist` against `ref`, both RGB (T, H, W, 3) uint8 or float in [0, 1], H and W even.

    Both clips are written as raw rgb24 files and converted by FFmpeg to 8-bit 4:2:0 (its default RGB → YUV
    matrix, the same for both); VMAF reads luma only.
    """
    if ref.shape != dist.shape or ref.ndim != 4 or ref.shape[-1] != 3:
        raise ValueError(f"vmaf_neg: need two RGB clips of one shape, got {ref.shape} and {dist.shape}")
    t, h, w, _ = ref.shape
    if h % 2 or w % 2:
        raise ValueError(f"vmaf_neg: {w}x{h} is not even in both dimensions")
    exe = ffmpeg_exe()
    with tempfile.TemporaryDirectory(prefix="vmaf-") as tmp:
        d = Path(tmp)
        _to_uint8(ref).tofile(d / "ref.rgb")
        _to_uint8(dist).tofile(d / "dist.rgb")
        raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "25"]
        graph = (f"[0:v]format=yuv420p[d];[1:v]format=yuv420p[r];"
                 f"[d][r]libvmaf=model={MODEL}:log_fmt=json:log_path=vmaf.json:n_threads={threads}")
        cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", *raw, "-i", "dist.rgb", *raw, "-i", "ref.rgb",
               "-lavfi", graph, "-f", "null", "-"]
        res = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
        if res.returncode != 0:
            raise VmafUnavailable(f"ffmpeg libvmaf failed ({res.returncode}): {res.stderr.strip()[-500:]}")
        frames = json.loads((d / "vmaf.json").read_text())["frames"]
    scores = [float(f["metrics"]["vmaf"]) for f in frames]
    if len(scores) != t:
        log.warning("vmaf_neg: %d scores for %d frames", len(scores), t)
    return scores
