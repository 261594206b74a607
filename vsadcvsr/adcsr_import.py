"""Importer for the public AdcSR weights (`net_params_200.pkl` + `halfDecoder.ckpt`) into a vsadcvsr checkpoint."""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import torch
from torch import Tensor

from .checkpoint import CheckpointError, load_state_into, refused_pickle, save_checkpoint
from .model import AdcVSR, AdcVSRConfig, ModelConfig, get_config

_ALIAS = re.compile(r"^body\.1\.body\.\d+\.")
_DECODER_PARTS = ("up_blocks.", "conv_norm_out.", "conv_out.")


def _load_pickle(path: Path, what: str) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"cannot read {what} {path}: {refused_pickle(e)}") from None
    except Exception as e:
        raise CheckpointError(f"cannot read {what} {path}: {e}") from None


def map_net_params(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """`net_params_200.pkl` keys → ours: strip `module.`, drop the `body.1.body.N` aliases, map body.1/body.2."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        k = key[len("module."):] if key.startswith("module.") else key
        if _ALIAS.match(k):
            continue
        if k.startswith("body.1."):
            out["unet." + k[len("body.1."):]] = value
        elif k.startswith("body.2."):
            out["decoder.mid_block." + k[len("body.2."):]] = value
        else:
            raise CheckpointError(f"unexpected key in AdcSR net params: {key}")
    return out


def map_half_decoder(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """`halfDecoder.ckpt` state_dict → our decoder tail (up blocks, norm, conv_out); its conv_in/mid block unused."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if "decoder." not in key:
            continue
        k = key.split("decoder.", 1)[1]
        if k.startswith(_DECODER_PARTS):
            out["decoder." + k] = value
    if not out:
        raise CheckpointError("the half-decoder checkpoint holds no 'decoder.up_blocks' tensors")
    return out


def import_adcsr(
    net_params: str | os.PathLike[str],
    half_decoder: str | os.PathLike[str],
    output: str | os.PathLike[str],
    config: ModelConfig | None = None,
) -> AdcVSR:
    """Builds AdcVSR (temporal blocks at zero) from the two AdcSR files and writes `output` (safetensors)."""
    cfg = config or get_config("adcvsr")
    if not isinstance(cfg, AdcVSRConfig):
        raise CheckpointError(f"AdcSR weights fit an AdcVSR configuration, not {type(cfg).__name__}")
    net = _load_pickle(Path(net_params), "AdcSR net params")
    dec = _load_pickle(Path(half_decoder), "AdcSR half decoder")
    if isinstance(dec, dict) and "state_dict" in dec:
        dec = dec["state_dict"]
    if not isinstance(net, dict) or not isinstance(dec, dict):
        raise CheckpointError("AdcSR files must hold state dicts")
    state = {**map_net_params(net), **map_half_decoder(dec)}
    state = {k: v.float() for k, v in state.items()}
    model = AdcVSR(cfg)  # real init: temporal blocks get their (zero-output) initial values
    temporal = {k: v for k, v in model.state_dict().items() if ".temporals." in k}
    load_state_into(model, {**temporal, **state}, f"AdcSR weights ({net_params}, {half_decoder})")
    save_checkpoint(
        output,
        model.state_dict(),
        cfg,
        provenance=f"imported from AdcSR {Path(net_params).name} + {Path(half_decoder).name}; temporal blocks zero",
        licence="Apache-2.0 (AdcSR weights, github.com/Guaishou74851/AdcSR)",
    )
    return model.eval()
