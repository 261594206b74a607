"""Side-by-side crops (nearest zoom) of frame 3 of each selection clip: reference, default, and exports.

  crops.py OUT.jpg METHOD...           128 px tiles at 2x, two places per clip (crops_VWX.jpg, crops_Y.jpg)
  crops.py --small OUT.png METHOD...   64 px tiles at 3x, three places: an edge, a flat area, a busy area
                                       (crops_YZ.jpg, crops_S.jpg)
"""
import sys
import numpy as np, cv2
from vsadcvsr.eval.selection import selection_clips
from vsadcvsr.eval.methods import build_method
small = sys.argv[1] == "--small"
out, methods = sys.argv[1 + small], sys.argv[2 + small:]
size, zoom = (64, 3) if small else (128, 2)
rows = []
for clip in selection_clips(6):
    outs = {"reference": clip.hr}
    for m in methods:
        meth = build_method(m)
        if hasattr(meth, "load"): meth.load()
        parts = m.removesuffix(".safetensors").split("/")
        outs["/".join(parts[-2 if small else -1:])] = meth.upscale(clip.lr)  # e.g. Y/compact-800
    h, w = clip.hr.shape[1:3]
    places = (((h // 2 - 32, w // 4 - 32), (h - 96, w // 2 + 60), (40, 3 * w // 4)) if small else
              ((h // 2 - 64, w // 4 - 64), (h - 160, w // 2 + 40)))
    for (y, x) in places:
        tiles = []
        for name, v in outs.items():
            t = cv2.resize(v[3, y:y + size, x:x + size], (zoom * size, zoom * size), interpolation=cv2.INTER_NEAREST)
            tiles.append(cv2.putText(t.copy(), name[:18 - 4 * small], (4, 14), cv2.FONT_HERSHEY_SIMPLEX,
                                     0.45 - 0.05 * small, (255, 255, 0), 1))
        rows.append(np.concatenate(tiles, 1))
img = np.concatenate(rows, 0)
cv2.imwrite(out, img[..., ::-1])
print(out, img.shape, file=sys.stderr)
