"""Multiplies a compact-noise run's noise weights in a copy of its state.pt (the live weights by FACTOR, the moving
average set to the same), so that a resumed run shows where the training takes the noise from a louder start
(run NM: NK's state at 367, FACTOR 3).

  scale_noise.py SRC/state.pt DST/state.pt FACTOR"""
import sys

import torch

src, dst, factor = sys.argv[1], sys.argv[2], float(sys.argv[3])
if src == dst:
    sys.exit("scale_noise.py: write the scaled state to another run's folder, not over its source")
st = torch.load(src, weights_only=False, map_location="cpu")
key = "student.noise_in.weight"
st["gen"][key] = st["gen"][key] * factor
st["ema"]["noise_in.weight"] = st["gen"][key].clone()
torch.save(st, dst)
print(f"{dst}: step {st['step']}, noise weights' std {float(st['gen'][key].std()):.4f}", file=sys.stderr)
