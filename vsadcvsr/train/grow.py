"""Growing a trained CompactVSR deeper without changing what it computes: the larger-student start of a run."""
from __future__ import annotations

import torch
from torch import Tensor

from ..model import CompactConfig
from ..model.layers import TemporalBlock


def deepen(state: dict[str, Tensor], cfg: CompactConfig, convs: int,
           seed: int = 0) -> tuple[dict[str, Tensor], CompactConfig]:
    """`state` of a CompactVSR with `cfg` → the state and config of one with `convs` body convolutions that computes
    the same function: each added convolution is the identity (Dirac kernel, zero bias) followed by a PReLU of slope
    1, appended after the last one; each added temporal site gets a fresh block (its second convolution is zero, so
    it is the identity too). Their first temporal convolutions are drawn with `seed`."""
    if convs < cfg.convs:
        raise ValueError(f"deepen: a network of {cfg.convs} convolutions cannot grow to {convs}")
    if cfg.noise_channels:  # its noise enters before the last convolutions: growing would move it
        raise ValueError("deepen: a network with a noise input cannot grow (its noise would enter elsewhere)")
    new = cfg.replace(convs=convs)
    out = dict(state)
    c = cfg.channels
    ref = state["conv_in.weight"]
    for i in range(cfg.convs, convs):
        w = torch.zeros(c, c, 3, 3, dtype=ref.dtype)
        w[torch.arange(c), torch.arange(c), 1, 1] = 1.0
        out[f"body.{i}.weight"] = w
        out[f"body.{i}.bias"] = torch.zeros(c, dtype=ref.dtype)
        out[f"acts.{i + 1}.weight"] = torch.ones(c, dtype=ref.dtype)
    gen = torch.Generator().manual_seed(seed)
    for site in sorted(set(new.temporal_sites) - set(cfg.temporal_sites)):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            block = TemporalBlock(c)
        out.update({f"temporals.{site}.{k}": v.to(ref.dtype) for k, v in block.state_dict().items()})
    return out, new
