"""Side-by-side crops (2x nearest zoom) of the selection frames: reference, default, and exports."""
import sys
import numpy as np, cv2
from vsadcvsr.eval.selection import selection_clips
from vsadcvsr.eval.methods import build_method
out, methods = sys.argv[1], sys.argv[2:]
clips = selection_clips(6)
rows = []
for ci, clip in enumerate(clips):
    outs = {"reference": clip.hr}
    for m in methods:
        meth = build_method(m)
        if hasattr(meth, "load"): meth.load()
        outs[m.split("/")[-1].replace(".safetensors", "")] = meth.upscale(clip.lr)
    h, w = clip.hr.shape[1:3]
    for (y, x) in ((h // 2 - 64, w // 4 - 64), (h - 160, w // 2 + 40)):
        tiles = []
        for name, v in outs.items():
            t = v[3, y:y + 128, x:x + 128]
            t = cv2.resize(t, (256, 256), interpolation=cv2.INTER_NEAREST)
            t = cv2.putText(t.copy(), name[:18], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1)
            tiles.append(t)
        rows.append(np.concatenate(tiles, 1))
img = np.concatenate(rows, 0)
cv2.imwrite(out, img[..., ::-1])
print(out, img.shape, file=sys.stderr)
