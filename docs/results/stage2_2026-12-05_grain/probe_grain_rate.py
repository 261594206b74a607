"""NIQE, BRISQUE, PSNR-Y and the x265 size (CRF 22, preset medium, yuv420p) of the outputs of the default, the
default with grain (probe_grain.py) and two peers on the selection clips (12 frames each), and of the reference.

  probe_grain_rate.py   (run from this folder; PYTHONPATH = the repository)"""
import json
import subprocess
import numpy as np
from vsadcvsr.eval.methods import build_method
from probe_grain import Grain
from vsadcvsr.eval.selection import selection_clips
from vsadcvsr.eval.no_reference import niqe, brisque
from vsadcvsr.eval.fidelity import psnr_y
import imageio_ffmpeg

FF = imageio_ffmpeg.get_ffmpeg_exe()


def x265_bytes(frames: np.ndarray) -> int:
    t, h, w = frames.shape[:3]
    cmd = [FF, "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "25", "-i", "-",
           "-c:v", "libx265", "-crf", "22", "-preset", "medium", "-pix_fmt", "yuv420p",
           "-x265-params", "log-level=error", "-f", "hevc", "-"]
    r = subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), capture_output=True, check=True)
    return len(r.stdout)


clips = selection_clips(12)
variants = [("reference", None), ("default", build_method("ours:default")),
            ("default+grain2steady", Grain(build_method("ours:default"), 2, "steady", 0)),
            ("default+grain3steadyb0.7", Grain(build_method("ours:default"), 3, "steady", 0.7)),
            ("x4plus", build_method("realesrgan-x4plus")), ("animevideov3", build_method("realesrgan-animevideov3"))]
for name, m in variants:
    if m is not None and hasattr(m, "load"):
        m.load()
    nq, br, ps, size = [], [], [], 0
    for c in clips:
        out = c.hr if m is None else m.upscale(c.lr)
        nq += [niqe(f) for f in out]
        br += [brisque(f) for f in out]
        if m is not None:
            ps += [psnr_y(r, o) for r, o in zip(c.hr, out)]
        size += x265_bytes(out)
    print(json.dumps({"method": name, "niqe": round(float(np.mean(nq)), 3), "brisque": round(float(np.mean(br)), 2),
                      "psnr_y": round(float(np.mean(ps)), 3) if ps else None, "x265_crf22_bytes": size}), flush=True)
