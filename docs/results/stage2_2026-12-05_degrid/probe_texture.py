"""Does a run's detail head reward real texture? (twelfth session.) From the repository root:
    .venv/bin/python docs/results/stage2_2026-12-05_degrid/probe_texture.py RUN_DIR [BATCHES]
Loads the run's state.pt (configuration, student, heads) into a scratch copy and, on BATCHES unseen training batches
(steps 10**8 + i), scores with the detail head (mean logit, higher = more real; share of logits > 0) the same crop
places of: the student's output; the student's output plus white luma grain (sigma 2 and 4 of 255); the student's
output plus the real video's own fine detail (the HR frame less its 5x5 Gaussian blur: real texture, in place);
the real video; and the steady teacher where the set has it."""
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from vsadcvsr.train.losses import sample_labels
from vsadcvsr.train.probe import open_run

torch.set_num_threads(1)
run, n = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 8


def blur(x: torch.Tensor) -> torch.Tensor:
    k = torch.exp(-torch.arange(-2, 3, dtype=torch.float32) ** 2 / (2 * 1.5 ** 2))
    k = (k[:, None] * k[None]) / k.sum() ** 2
    flat = x.flatten(0, -3)[:, None]
    return F.conv2d(F.pad(flat, (2, 2, 2, 2), mode="replicate"), k[None, None]).view_as(x)


with open_run(run) as tr:
    cfg = tr.cfg
    at, d = tr.step, tr.disc
    if cfg.detail_teacher in tr.data.teachers:
        tr.labels = sample_labels("teacher")  # only so that batch() cuts the steady teacher's window too
    assert d is not None
    d.eval()
    scores: dict[str, list[torch.Tensor]] = {}
    for i in range(n):
        tr.step = 10**8 + i
        b = tr.batch(tr.step)
        with torch.no_grad():
            tr.gen.eval()
            x_s = tr.gen(b["lr"], None)[0].clamp(-1, 1)
            hr = b["hr"]
            g = torch.Generator().manual_seed(i)
            noise = torch.randn(x_s.shape[:2] + (1,) + x_s.shape[3:], generator=g).expand_as(x_s)
            samples = {"student": x_s, "student + grain 2/255": x_s + noise * 4 / 255,
                       "student + grain 4/255": x_s + noise * 8 / 255,
                       "student + the video's fine detail": x_s + (hr - blur(hr)),
                       "real video": hr}
            if "teacher_video" in b:  # the same window of the steady teacher's output
                samples["steady teacher"] = b["teacher_video"]
            for name, x in samples.items():
                logits = d(tr._disc_crops(x.clamp(-1, 1), 0))[0]
                scores.setdefault(name, []).append(torch.cat([p.flatten() for p in logits]))
    print(f"{run.name} at step {at}, {n} batches: detail logit mean (share > 0)")
    for name, v in scores.items():
        s = torch.cat(v)
        print(f"  {name}: {float(s.mean()):+.3f} ({float((s > 0).float().mean()):.0%})")
