"""Flat-area crops of each METHOD's fine detail, to see what the student makes where the LR frame is flat (fifteenth
session): frame 3 of the first two selection clips, two 64 px tiles each (the flat and the busy tile of
../stage2_2026-12-05_grain/crops_grain.py), luma of the output less its Gaussian blur (sigma 2), times 6 around mid
grey, at 3x. Columns: the reference, then each METHOD (../stage2_2026-12-05_grain/probe_grain.py's `method_of`).

  crops_highpass.py OUT.jpg METHOD...   (run from the repository root; PYTHONPATH = the repository)"""
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "stage2_2026-12-05_grain"))
from probe_grain import method_of  # noqa: E402

from vsadcvsr.eval.selection import selection_clips  # noqa: E402

out, specs = sys.argv[1], sys.argv[2:]
methods = [method_of(s) for s in specs]
for m in methods:
    if hasattr(m, "load"):
        m.load()
rows = []
for clip in list(selection_clips(6))[:2]:
    outs = [clip.hr] + [m.upscale(clip.lr) for m in methods]
    h, w = clip.hr.shape[1:3]
    for y, x in ((h - 96, w // 2 + 60), (40, 3 * w // 4)):
        tiles = []
        for o in outs:
            t = cv2.cvtColor(np.ascontiguousarray(o[3, y:y + 64, x:x + 64]), cv2.COLOR_RGB2GRAY).astype(np.float32)
            hp = t - cv2.GaussianBlur(t, (0, 0), 2)
            tiles.append(np.clip(128 + 6 * hp, 0, 255).astype(np.uint8).repeat(3, 0).repeat(3, 1))
        rows.append(np.concatenate(tiles, 1))
cv2.imwrite(out, np.concatenate(rows, 0))
print(out, np.concatenate(rows, 0).shape)
