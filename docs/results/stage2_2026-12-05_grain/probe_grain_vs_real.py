"""Can the heads' features tell grain from real texture? (fourteenth session, for --disc-grain.) From the repository
root:
    .venv/bin/python docs/results/stage2_2026-12-05_grain/probe_grain_vs_real.py STUDENT.safetensors [SIGMA [DATA]]
For each training clip (5 frames, 96 px centre crops of the 192 px HR frames): the student's output (noise input, if
any, off), the same plus white luma grain of SIGMA 8-bit levels (default 3), and the real video, each less its 4-px
periodic pattern (`remove_grid`, as --disc-degrid), through the frozen x4plus convolutions 1-6 and 1-16. Per 4x4 block
of the LR grid: the channel means and standard deviations, signed log (as ../stage2_2026-12-05_local/probe_local.py,
window 1), on the flattest half of the real frame's blocks (the same places for all three). A logistic regression per
pair and depth, held out by clip (last 30 of 120); held-out accuracy per block."""
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
student, _ = load_model(sys.argv[1])
sigma = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
d = np.load(sys.argv[3] if len(sys.argv) > 3 else "/work/scratch/stage2/data/train_stable.npz")
lr, hr = d["lr"], d["hr"]
n, ho = lr.shape[0], 30
depths = (6, 16)
fb = FrozenX4plusFeatures(depths)
gen = torch.Generator().manual_seed(0)


def t(a: np.ndarray) -> torch.Tensor:  # (..., H, W, 3) uint8 → (..., 3, H, W) in [-1, 1]
    return torch.from_numpy(np.ascontiguousarray(a)).movedim(-1, -3).float() / 127.5 - 1


def blocks(f: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) → per block (N, 2C, H/4, W/4)
    m, m2 = F.avg_pool2d(f, 4), F.avg_pool2d(f * f, 4)
    x = torch.cat([m, (m2 - m * m).clamp_min(0).sqrt()], 1)
    return torch.sign(x) * torch.log1p(x.abs())


kinds = ("student", "grainy", "real")
rows: dict[tuple[str, int], list[torch.Tensor]] = {(k, dep): [] for k in kinds for dep in depths}
with torch.no_grad():
    for i in range(n):
        s = student(t(lr[i])[None])[0].clamp(-1, 1)[..., 48:144, 48:144]
        g = s + sigma * 2 / 255 * torch.randn(s.shape[0], 1, *s.shape[-2:], generator=gen)
        r = t(hr[i])[..., 48:144, 48:144]
        keep = flattest_positions(r, 0.5)  # (5, k)
        for k, x in zip(kinds, (s, g, r)):
            for dep, f in zip(depths, fb(remove_grid(x.contiguous()))):
                b = blocks(f).flatten(2)  # (5, 2C, P)
                sel = b.gather(2, keep[:, None].expand(-1, b.shape[1], -1))
                rows[(k, dep)].append(sel.transpose(1, 2).reshape(-1, b.shape[1]))


for a, b in (("student", "real"), ("grainy", "real"), ("student", "grainy")):
    held = [linear_separability(torch.stack(rows[(a, dep)]), torch.stack(rows[(b, dep)]), ho)[1] for dep in depths]
    accs = ", ".join(f"conv {dep} {acc:.3f}" for dep, acc in zip(depths, held))
    print(f"{a} vs {b} (grain sigma {sigma:g}): held-out per block {accs}", flush=True)
