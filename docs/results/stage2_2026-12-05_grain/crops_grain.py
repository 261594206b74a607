"""Side-by-side crops (64 px tiles at 3x; an edge, a flat area, a busy area of frame 3 of each selection clip), as
../stage2_2026-12-04_heads/crops.py --small, with two more kinds of METHOD:
  grain:SIGMA[:BLUR]      the default plus steady grain (probe_grain.py)
  noise:FILE:SCALE        a compact-noise export fed carried noise (select_noise.py)

  crops_grain.py OUT.jpg METHOD...   (run from this folder; PYTHONPATH = the repository)"""
import sys

import cv2
import numpy as np
from probe_grain import method_of

from vsadcvsr.eval.selection import selection_clips


def method(spec: str):
    kind, _, rest = spec.partition(":")
    if kind == "grain":
        sigma, _, blur = rest.partition(":")
        name = f"grain {sigma}" + (f" b{blur}" if blur else "")
    elif kind == "noise":
        path, _, scale = rest.rpartition(":")
        name = "/".join(path.removesuffix(".safetensors").split("/")[-2:]) + f" n{scale}"
    else:
        name = "/".join(spec.removesuffix(".safetensors").split("/")[-2:])
    return name, method_of(spec)


out, specs = sys.argv[1], sys.argv[2:]
size, zoom = 64, 3
built = [method(s) for s in specs]
rows = []
for clip in selection_clips(6):
    outs = {"reference": clip.hr}
    for name, m in built:
        if hasattr(m, "load"):
            m.load()
        outs[name] = m.upscale(clip.lr)
    h, w = clip.hr.shape[1:3]
    for (y, x) in ((h // 2 - 32, w // 4 - 32), (h - 96, w // 2 + 60), (40, 3 * w // 4)):
        tiles = []
        for name, v in outs.items():
            t = cv2.resize(v[3, y:y + size, x:x + size], (zoom * size, zoom * size), interpolation=cv2.INTER_NEAREST)
            tiles.append(cv2.putText(t.copy(), name[:16], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1))
        rows.append(np.concatenate(tiles, 1))
img = np.concatenate(rows, 0)
cv2.imwrite(out, img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
print(out, img.shape, file=sys.stderr)
