"""Side-by-side crops (3x nearest zoom, 64 px tiles: an edge, a flat area, a busy area) of frame 3 of each
selection clip: reference, then each method (`crops4.py OUT.png ours:default ours:runs/Y/compact-800.safetensors ...`)."""
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
        parts = m.removesuffix(".safetensors").split("/")
        outs["/".join(parts[-2:]) if len(parts) > 1 else m] = meth.upscale(clip.lr)  # e.g. Y/compact-800
    h, w = clip.hr.shape[1:3]
    for (y, x) in ((h // 2 - 32, w // 4 - 32), (h - 96, w // 2 + 60), (40, 3 * w // 4)):
        tiles = []
        for name, v in outs.items():
            t = cv2.resize(v[3, y:y + 64, x:x + 64], (192, 192), interpolation=cv2.INTER_NEAREST)
            tiles.append(cv2.putText(t.copy(), name[:14], (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1))
        rows.append(np.concatenate(tiles, 1))
cv2.imwrite(out, np.concatenate(rows, 0)[..., ::-1])
