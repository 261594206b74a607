"""Network families: a kind name -> its configuration class, how to build the network and what the engine needs.

A third family registers itself with `register_family` (its configuration's `to_json` writes `"kind": NAME`);
checkpoints, `build_model` and the engine then handle it with no other edit. A network takes (B, T, 3, h, w) in
[-1, 1] and `render_chunk=` (frames it may render at a time) and returns (B, T, 3, s·h, s·w) in [-1, 1].
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from .adcvsr import AdcVSR
from .compact import CompactVSR
from .compact_int8 import COMPACT_INT8
from .config import AdcVSRConfig, CompactConfig, config_from_dict
from .hints import EngineHints


@dataclass(frozen=True)
class Family:
    kind: str
    config: type
    network: Callable[[Any], nn.Module]
    hints: Callable[[Any], EngineHints]


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> None:
    """Adds (or replaces) the family of `family.kind`."""
    _FAMILIES[family.kind] = family


def family_of(cfg: object) -> Family:
    """The family whose configuration class `cfg` is; ValueError for an unknown class."""
    for family in _FAMILIES.values():
        if type(cfg) is family.config:
            return family
    raise ValueError(f"no network family for configuration {type(cfg).__name__}")


def build_model(cfg: Any) -> nn.Module:
    """The network a configuration describes."""
    return family_of(cfg).network(cfg)


def engine_hints(cfg: Any) -> EngineHints:
    """What the engine needs to know about the network of `cfg`."""
    return family_of(cfg).hints(cfg)


def config_from_json(text: str) -> Any:
    """A configuration from `to_json` text; `"kind"` names the family (missing: "adcvsr"); unknown fields refused."""
    d = json.loads(text)
    kind = d.pop("kind", "adcvsr")
    family = _FAMILIES.get(kind)
    if family is None:
        raise ValueError(f"config_from_json: unknown network kind {kind!r}")
    return config_from_dict(family.config, d)


def _adcvsr_hints(cfg: AdcVSRConfig) -> EngineHints:
    def memory(frames: int, h: int, w: int, size: int, render_chunk: int) -> int:
        latent_px = h * w / 4
        unet = sum(c * 6 / 4**i for i, c in enumerate(cfg.widths)) * latent_px * frames
        attn_levels = [i for i, a in enumerate(cfg.attention) if a]
        if attn_levels:  # SDPA may materialise (tokens x tokens) per head on some backends
            i = attn_levels[0]
            tokens = latent_px / 4**i
            unet += tokens * tokens * max(1, cfg.widths[i] // cfg.head_dim) * min(frames, 2)
        dec_px = latent_px * 4 ** sum(cfg.decoder_upsample)
        decoder = max(cfg.decoder_widths) * 4 * dec_px * min(frames, render_chunk or frames)
        return int((unet + decoder) * size * 1.5)

    return EngineHints(scale=cfg.scale, size_multiple=cfg.size_multiple, memory=memory)


def _compact_hints(cfg: CompactConfig) -> EngineHints:
    def memory(frames: int, h: int, w: int, size: int, render_chunk: int) -> int:
        # a few C-channel maps per frame at LR size (padded), the x4 output
        px = (h + 2 * cfg.pad) * (w + 2 * cfg.pad)
        return int((cfg.channels * 4 * px * frames + 3 * 16 * px * min(frames, render_chunk or frames) * 2)
                   * size * 1.5)

    # the picture stays fp32 (only the detail is computed in the weights' dtype): bf16 costs no visible precision
    return EngineHints(scale=cfg.scale, size_multiple=cfg.size_multiple, pad=cfg.pad, cpu_bf16=True,
                       fp32_input=True, memory=memory, int8=COMPACT_INT8)


register_family(Family("adcvsr", AdcVSRConfig, AdcVSR, _adcvsr_hints))
register_family(Family("compact", CompactConfig, CompactVSR, _compact_hints))
