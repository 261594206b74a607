"""Selection scores of a checkpoint with a noise input (`--model compact-noise`), fed a noise field that moves with
the content: `flow.carry_noise` on the bicubic-upscaled LR frames (what inference could compute), times SCALE.

  select_noise.py CHECKPOINT SCALE...   (PYTHONPATH = the repository; one JSON row per scale; SCALE 0: no noise)

The network runs each selection clip (12 frames) as one window, fp32, with the wavelet colour fix, as the engine
does for a clip shorter than its window."""
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vsadcvsr.checkpoint import load_model
from vsadcvsr.engine.colour_fix import apply_colour_fix
from vsadcvsr.eval.selection import score_methods
from vsadcvsr.flow import carry_noise


class NoiseOurs:
    def __init__(self, path: str, scale: float) -> None:
        self.model, info = load_model(path)
        self.layers = getattr(info.config, "noise_channels", 0) // 16
        self.scale = scale
        self.name = f"{Path(path).parent.name}/{Path(path).stem}+noise{scale:g}"

    @torch.no_grad()
    def upscale(self, lr: np.ndarray) -> np.ndarray:
        t, h, w = lr.shape[:3]
        x = torch.from_numpy(np.ascontiguousarray(lr)).permute(0, 3, 1, 2).float() / 127.5 - 1
        noise = None
        if self.scale:
            up = np.stack([cv2.resize(f, (4 * w, 4 * h), interpolation=cv2.INTER_CUBIC) for f in lr])
            fields = torch.from_numpy(carry_noise(up, np.random.default_rng(0), self.layers)) * self.scale
            noise = F.pixel_unshuffle(fields, 4)[None]
        y = self.model.forward_features(x[None], noise=noise).image[0] if noise is not None else self.model(x[None])[0]
        y = apply_colour_fix("wavelet", y, x)
        return ((y + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


if __name__ == "__main__":
    torch.set_num_threads(1)
    for row in score_methods([NoiseOurs(sys.argv[1], float(s)) for s in sys.argv[2:]], frames=12):
        print(json.dumps(row), flush=True)
