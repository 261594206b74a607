"""Synthetic AdcSR checkpoint files built from the public key/shape lists (values by the reference fill rule)."""
from __future__ import annotations

import json
import math
import os
import zlib
from pathlib import Path

import torch

# The public key/shape lists and the upstream forward-pass fixture (tests/data/reference/README.md says where they
# come from); ADCVSR_REFERENCE may point at another copy.
REFERENCE = Path(os.environ.get("ADCVSR_REFERENCE") or Path(__file__).resolve().parent / "data" / "reference")


def fill(key: str, shape: list[int]) -> torch.Tensor:
    """The reference README's fill rule."""
    g = torch.Generator().manual_seed(zlib.crc32(key.encode("utf-8")))
    t = torch.randn(shape, generator=g, dtype=torch.float32)
    if len(shape) >= 2:
        return t / math.sqrt(math.prod(shape[1:]))
    if key.endswith(".weight"):
        return 1.0 + 0.05 * t
    return 0.05 * t


def net_params_state() -> dict[str, torch.Tensor]:
    """`net_params_200.pkl` as released: `module.` keys plus the `module.body.1.body.N` alias keys."""
    shapes = json.loads((REFERENCE / "adcsr_net_params.json").read_text())
    state = {k: fill(k, v) for k, v in shapes.items()}
    aliases = {}
    for k, v in state.items():  # one alias per top-level UNet part, as the DataParallel wrapper leaves them
        if k.startswith("module.body.1.conv_in."):
            aliases["module.body.1.body.0." + k.split("module.body.1.conv_in.")[1]] = v
    return {**state, **aliases}


def half_decoder_checkpoint() -> dict:
    shapes = json.loads((REFERENCE / "adcsr_half_decoder_params.json").read_text())
    return {"state_dict": {"decoder." + k: fill("decoder." + k, v) for k, v in shapes.items()}, "epoch": 0}


def write_adcsr_files(folder: Path) -> tuple[Path, Path]:
    net, dec = folder / "net_params_200.pkl", folder / "halfDecoder.ckpt"
    torch.save(net_params_state(), net)
    torch.save(half_decoder_checkpoint(), dec)
    return net, dec
