"""Is there a per-place signal between the student and its steady teacher in flat areas? (eleventh session, for
--disc-local). From the repository root:
    .venv/bin/python docs/results/stage2_2026-12-05_local/probe_local.py STUDENT.safetensors [DATA.npz]
For each training clip: the student's output and the x4plus-stable teacher's of the same 5 frames (96 px centre
crops of the 192 px HR frames), both less their 4-px periodic pattern (`remove_grid`, as --disc-degrid), through
the frozen x4plus convolutions 1-6 (the discriminator's tap). Per 4x4 block of the LR grid: the channel means and
standard deviations over the block (`--window 3`: over its 3x3 neighbourhood of blocks, 12 px), signed log; the
flattest half of the blocks (`flattest_positions` of the teacher frame, the same places for both). A logistic
regression (L-BFGS) per block, and one on the crop-wide statistics of those blocks, held out by clip (last 30 of
120); accuracy on the held-out clips' blocks / frames."""
import sys

import numpy as np
import torch
import torch.nn.functional as F

from vsadcvsr.checkpoint import load_model
from vsadcvsr.train.discriminators import flattest_positions
from vsadcvsr.train.feature_backbone import FrozenX4plusFeatures
from vsadcvsr.train.losses import remove_grid
from vsadcvsr.train.probe import linear_separability

torch.set_num_threads(1)
argv = sys.argv[1:]
window = int(argv.pop(argv.index("--window") + 1)) if "--window" in argv else 1
args = [a for a in argv if not a.startswith("--")]
student, _ = load_model(args[0])
d = np.load(args[1] if len(args) > 1 else "/work/scratch/stage2/data/train_stable.npz")
lr, teacher = d["lr"], d["teacher_x4plus-stable"]
n, ho = lr.shape[0], 30
fb = FrozenX4plusFeatures((6,))


def t(a: np.ndarray) -> torch.Tensor:  # (..., H, W, 3) uint8 → (..., 3, H, W) in [-1, 1]
    return torch.from_numpy(np.ascontiguousarray(a)).movedim(-1, -3).float() / 127.5 - 1


def blocks(f: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) → per block (N, 2C, H/4, W/4)
    m, m2 = F.avg_pool2d(f, 4), F.avg_pool2d(f * f, 4)
    if window > 1:
        m, m2 = F.avg_pool2d(m, window, 1, window // 2), F.avg_pool2d(m2, window, 1, window // 2)
    x = torch.cat([m, (m2 - m * m).clamp_min(0).sqrt()], 1)
    return torch.sign(x) * torch.log1p(x.abs())


per_place = ([], [])  # (student, teacher) rows per clip: (5 * k, 2C)
per_crop = ([], [])
with torch.no_grad():
    for i in range(n):
        s = student(t(lr[i])[None])[0].clamp(-1, 1)[..., 48:144, 48:144]
        te = t(teacher[i])[..., 48:144, 48:144]
        keep = flattest_positions(te, 0.5)  # (5, k)
        for j, x in enumerate((s, te)):
            b = blocks(fb(remove_grid(x.contiguous()))[0]).flatten(2)  # (5, 2C, P)
            sel = b.gather(2, keep[:, None].expand(-1, b.shape[1], -1))  # (5, 2C, k)
            per_place[j].append(sel.transpose(1, 2).reshape(-1, b.shape[1]))
            per_crop[j].append(sel.mean(2))


for name, rows in (("per place (flattest half)", per_place), ("crop-wide over those places", per_crop)):
    tr, te = linear_separability(torch.stack(rows[0]), torch.stack(rows[1]), ho)
    print(f"{name}, window {window}: train {tr:.3f}, held-out {te:.3f}", flush=True)
