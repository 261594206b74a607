"""A bound, not a method: what luma grain added to the default's output does to the selection scores.

  probe_grain.py SIGMA[,MODE[,BLUR]]...   (PYTHONPATH = the repository; one JSON row per method on stdout)

SIGMA in 8-bit levels; MODE steady (one noise field carried from frame to frame along the output's own DIS flow,
nearest sampling, fresh noise where the flow fails E*warp's occlusion checks: grain that moves with the content) or
fresh (new noise every frame); BLUR the Gaussian sigma (px) of the noise before it is rescaled to unit variance."""
import json
import sys

import cv2
import numpy as np

from vsadcvsr.eval.methods import build_method
from vsadcvsr.eval.selection import score_methods
from vsadcvsr.flow import dis_flow, occlusion_mask


class Grain:
    def __init__(self, base, sigma: float, mode: str, blur: float, seed: int = 0):
        self.base, self.sigma, self.mode, self.blur = base, sigma, mode, blur
        self.name = f"{base.name}+grain{sigma:g}{mode}{'b%g' % blur if blur else ''}"
        self.seed = seed

    def load(self):
        if hasattr(self.base, "load"):
            self.base.load()

    def _noise(self, rng, shape):
        n = rng.standard_normal(shape).astype(np.float32)
        if self.blur:
            n = cv2.GaussianBlur(n, (0, 0), self.blur)
            n /= n.std() + 1e-8
        return n

    def upscale(self, lr):
        out = self.base.upscale(lr).astype(np.float32)
        rng = np.random.default_rng(self.seed)
        t, h, w = out.shape[:3]
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        field = self._noise(rng, (h, w))
        res = []
        for i in range(t):
            if i and self.mode == "steady":
                fw = dis_flow(out[i].astype(np.uint8), out[i - 1].astype(np.uint8))  # t -> t-1
                bw = dis_flow(out[i - 1].astype(np.uint8), out[i].astype(np.uint8))
                bad = occlusion_mask(fw, bw)
                field = cv2.remap(field, gx + fw[..., 0], gy + fw[..., 1], cv2.INTER_NEAREST,
                                  borderMode=cv2.BORDER_REFLECT)
                fresh = self._noise(rng, (h, w))
                field = np.where(bad, fresh, field)
            elif i:
                field = self._noise(rng, (h, w))
            res.append(np.clip(out[i] + self.sigma * field[..., None], 0, 255))
        return np.rint(np.stack(res)).astype(np.uint8)


def method_of(spec: str):
    """A METHOD of the probes in this folder: grain:SIGMA[:BLUR] (the default plus steady grain), fresh:SIGMA (plus
    grain drawn anew every frame), noise:FILE:SCALE (a compact-noise export fed carried noise, select_noise.py), or
    any name `build_method` takes."""
    from select_noise import NoiseOurs

    kind, _, rest = spec.partition(":")
    if kind == "grain":
        sigma, _, blur = rest.partition(":")
        return Grain(build_method("ours:default"), float(sigma), "steady", float(blur or 0))
    if kind == "fresh":
        return Grain(build_method("ours:default"), float(rest), "fresh", 0.0)
    if kind == "noise":
        path, _, scale = rest.rpartition(":")
        return NoiseOurs(path, float(scale))
    return build_method(spec)


if __name__ == "__main__":
    methods = [build_method("ours:default")]
    for a in sys.argv[1:]:
        parts = a.split(",")
        s, mode, blur = parts[0], (parts[1:2] or ["steady"])[0], (parts[2:3] or ["0"])[0]
        methods.append(Grain(build_method("ours:default"), float(s), mode, float(blur)))
    for row in score_methods(methods, frames=12):
        print(json.dumps(row), flush=True)
