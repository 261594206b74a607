"""Network configurations: one frozen dataclass describes an AdcVSR network, named presets build the known ones."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Literal

TemporalPlacement = Literal["none", "block", "layer"]


@dataclass(frozen=True)
class AdcVSRConfig:
    """Architecture of an AdcVSR student.

    The UNet is SD2.1-shaped without time embedding or cross-attention; `attention` says which UNet levels
    (0 = finest) carry self-attention transformers. The decoder maps the UNet's `latent_channels` output to
    RGB through a mid block (the feature domain) and up blocks; `decoder_upsample[i]` says whether block i
    doubles the size, and the tail ends with `PixelShuffle(decoder_shuffle)`. The total scale is
    `2 (unshuffle undone by the latent grid) * 2**sum(decoder_upsample) * decoder_shuffle / 2`, fixed at 4.
    """

    widths: tuple[int, ...] = (240, 480, 960, 960)
    down_layers: int = 2
    up_layers: int = 3
    attention: tuple[bool, ...] = (True, True, True, False)
    head_dim: int = 48
    mid_attention: bool = True
    latent_channels: int = 256
    decoder_mid_attention: bool = True
    decoder_widths: tuple[int, ...] = (256, 256, 128, 64)
    decoder_layers: tuple[int, ...] = (3, 3, 3, 3)
    decoder_upsample: tuple[bool, ...] = (True, True, True, False)
    decoder_tail_norm: bool = True
    decoder_shuffle: int = 1
    temporal: TemporalPlacement = "layer"
    scale: int = field(default=4, init=False)

    def __post_init__(self) -> None:
        if len(self.attention) != len(self.widths):
            raise ValueError("AdcVSRConfig: attention needs one flag per UNet level")
        n = len(self.decoder_widths)
        if not (len(self.decoder_layers) == len(self.decoder_upsample) == n):
            raise ValueError("AdcVSRConfig: decoder_widths, decoder_layers and decoder_upsample differ in length")
        if 2 ** sum(self.decoder_upsample) * self.decoder_shuffle != 8:
            raise ValueError("AdcVSRConfig: the decoder must upscale the latent grid by 8 (x4 overall)")
        if self.temporal not in ("none", "block", "layer"):
            raise ValueError(f"AdcVSRConfig: unknown temporal placement {self.temporal!r}")

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (unshuffle x2, then one halving per extra level)."""
        return 2 * 2 ** (len(self.widths) - 1)

    @property
    def feature_stride(self) -> int:
        """Output pixels per feature pixel along each axis (the feature grid is the latent grid, h/2)."""
        return 8

    def replace(self, **changes: object) -> "AdcVSRConfig":
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d.pop("scale")
        return json.dumps(d, sort_keys=True)



@dataclass(frozen=True)
class CompactConfig:
    """Architecture of a CompactVSR student (SRVGGNetCompact's layers plus temporal blocks).

    `convs` 3x3 convolutions of `channels` at LR resolution after the input convolution, each with a PReLU;
    temporal blocks after activation i (0 = the input convolution's) for i in `temporal_sites`: "layer" puts one
    after every activation, "block" after every `temporal_every`-th, "none" makes the 2D network.
    `noise_channels` > 0 gives the network a noise input (`CompactVSR.forward_features(noise=)`): that many LR
    channels (an HR noise field, pixel-unshuffled: a multiple of 16), added through a 1x1 convolution before the
    last `temporal_every` convolutions; without noise given, the network is the one without the input.
    """

    channels: int = 64
    convs: int = 16
    temporal: TemporalPlacement = "block"
    temporal_every: int = 4
    pad: int = 10  # LR pixels of reflected border around each frame (Real-ESRGAN's own pre-padding)
    noise_channels: int = 0
    scale: int = field(default=4, init=False)

    def __post_init__(self) -> None:
        if self.channels < 1 or self.convs < 1 or self.temporal_every < 1 or self.pad < 0:
            raise ValueError("CompactConfig: channels, convs and temporal_every must be positive, pad not negative")
        if self.temporal not in ("none", "block", "layer"):
            raise ValueError(f"CompactConfig: unknown temporal placement {self.temporal!r}")
        if self.noise_channels < 0 or self.noise_channels % 16 or (self.noise_channels
                                                                   and self.convs < self.temporal_every):
            raise ValueError("CompactConfig: noise_channels must be a multiple of 16 (an HR field unshuffled) and "
                             "convs at least temporal_every")

    @property
    def temporal_sites(self) -> tuple[int, ...]:
        if self.temporal == "none":
            return ()
        if self.temporal == "layer":
            return tuple(range(self.convs + 1))
        return tuple(range(self.temporal_every, self.convs + 1, self.temporal_every))

    @property
    def size_multiple(self) -> int:
        return 1

    @property
    def latent_channels(self) -> int:
        """Channels of the feature domain f (the last activation)."""
        return self.channels

    @property
    def feature_stride(self) -> int:
        """Output pixels per feature pixel along each axis (f is at LR resolution)."""
        return 4

    def replace(self, **changes: object) -> "CompactConfig":
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d.pop("scale")
        return json.dumps({"kind": "compact", **d}, sort_keys=True)


ModelConfig = AdcVSRConfig | CompactConfig


def config_from_dict(cls: type, d: dict) -> ModelConfig:
    """`cls(**d)` from JSON values (lists become tuples; the derived `scale` is dropped); unknown fields refused."""
    d = {k: v for k, v in d.items() if k != "scale"}
    unknown = set(d) - {f.name for f in dataclasses.fields(cls) if f.init}
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


#: The paper's network: AdcSR (pruned SD2.1 UNet + half decoder) with temporal blocks after every layer (0.573 B).
ADCVSR = AdcVSRConfig()

#: Small, CPU-friendly network with the same stages; narrow where the pixels are many.
TINY = AdcVSRConfig(
    widths=(32, 64, 128),
    down_layers=1,
    up_layers=2,
    attention=(False, False, True),
    head_dim=32,
    mid_attention=True,
    latent_channels=64,
    decoder_mid_attention=False,
    decoder_widths=(64, 32),
    decoder_layers=(2, 1),
    decoder_upsample=(True, True),
    decoder_tail_norm=False,
    decoder_shuffle=2,
    temporal="layer",
)

#: Real-ESRGAN's SRVGGNetCompact (as realesr-animevideov3) with a temporal block after every fourth layer.
COMPACT = CompactConfig()

CONFIGS: dict[str, ModelConfig] = {
    "adcvsr": ADCVSR,
    "adcvsr-block": ADCVSR.replace(temporal="block"),
    "adcsr": ADCVSR.replace(temporal="none"),
    "tiny": TINY,
    "tiny-2d": TINY.replace(temporal="none"),
    "compact": COMPACT,
    "compact-2d": COMPACT.replace(temporal="none"),
    # the larger student the issue allows (1.5x the cost): 24 convolutions, grown from `compact` (train/grow.py)
    "compact-deep": COMPACT.replace(convs=24),
    # a noise input that the engine does not feed yet (training and probes only; without noise it is `compact`)
    "compact-noise": COMPACT.replace(noise_channels=16),
}


def get_config(name: str) -> ModelConfig:
    """Named configuration; raises KeyError listing the known names."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise KeyError(f"unknown configuration {name!r}; known: {', '.join(CONFIGS)}") from None
