"""The pruned SD2.1-style UNet of AdcSR (no time embedding, no cross-attention), with optional temporal blocks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import AdcVSRConfig
from .layers import Downsample2D, GroupNorm, ResnetBlock2D, TemporalBlock, Transformer2DModel, Upsample2D, norm_groups


class UNetBlock(nn.Module):
    """ResNets, each optionally followed by a transformer, then an optional resampler.

    Temporal blocks sit after every ResNet and transformer ("layer") or once after the block ("block").
    Up blocks take one skip tensor per ResNet, concatenated on channels.
    """

    def __init__(
        self,
        in_channels: list[int],
        out_channels: int,
        attention: bool,
        head_dim: int,
        resample: str | None,
        temporal: str,
    ) -> None:
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(c, out_channels) for c in in_channels])
        self.attentions = (
            nn.ModuleList([Transformer2DModel(out_channels, head_dim) for _ in in_channels]) if attention else None
        )
        if resample == "down":
            self.downsamplers = nn.ModuleList([Downsample2D(out_channels)])
        elif resample == "up":
            self.upsamplers = nn.ModuleList([Upsample2D(out_channels)])
        self.resample = resample
        n_layers = len(in_channels) * (2 if attention else 1)
        n_temporal = {"none": 0, "block": 1, "layer": n_layers}[temporal]
        self.temporals = nn.ModuleList([TemporalBlock(out_channels) for _ in range(n_temporal)]) if n_temporal else None
        self.per_layer = temporal == "layer"

    def _layers(self) -> list[nn.Module]:
        out: list[nn.Module] = []
        for i, r in enumerate(self.resnets):
            out.append(r)
            if self.attentions is not None:
                out.append(self.attentions[i])
        return out

    def forward(
        self,
        x: Tensor,
        frames: int,
        skips: list[Tensor] | None = None,
        up_size: tuple[int, int] | None = None,
    ) -> tuple[Tensor, list[Tensor]]:
        """Returns the block output and the states this block hands to the skip stack (down blocks only)."""
        states: list[Tensor] = []
        t_index = 0
        for layer in self._layers():
            if isinstance(layer, ResnetBlock2D) and skips is not None:
                x = torch.cat([x, skips.pop()], dim=1)
            x = layer(x)
            if self.per_layer and self.temporals is not None:
                x = self.temporals[t_index](x, frames)
                t_index += 1
            if isinstance(layer, Transformer2DModel) or self.attentions is None:
                states.append(x)
        if self.resample == "down":
            x = self.downsamplers[0](x)
            states.append(x)
        elif self.resample == "up":
            x = self.upsamplers[0](x, up_size)
        if not self.per_layer and self.temporals is not None:
            x = self.temporals[0](x, frames)
            if states:
                states[-1] = x
        return x, states


class MidBlock(nn.Module):
    """ResNet, transformer, ResNet at the lowest level."""

    def __init__(self, channels: int, attention: bool, head_dim: int, temporal: str) -> None:
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels), ResnetBlock2D(channels, channels)])
        self.attentions = nn.ModuleList([Transformer2DModel(channels, head_dim)]) if attention else None
        n_temporal = {"none": 0, "block": 1, "layer": 3 if attention else 2}[temporal]
        self.temporals = nn.ModuleList([TemporalBlock(channels) for _ in range(n_temporal)]) if n_temporal else None
        self.per_layer = temporal == "layer"

    def forward(self, x: Tensor, frames: int) -> Tensor:
        layers: list[nn.Module] = [self.resnets[0]]
        if self.attentions is not None:
            layers.append(self.attentions[0])
        layers.append(self.resnets[1])
        for i, layer in enumerate(layers):
            x = layer(x)
            if self.per_layer and self.temporals is not None:
                x = self.temporals[i](x, frames)
        if not self.per_layer and self.temporals is not None:
            x = self.temporals[0](x, frames)
        return x


class PrunedUNet(nn.Module):
    """`conv_in` → down blocks → mid block → up blocks (with skips) → GN → SiLU → `conv_out`."""

    def __init__(self, cfg: AdcVSRConfig, in_channels: int = 12) -> None:
        super().__init__()
        w = cfg.widths
        n = len(w)
        self.conv_in = nn.Conv2d(in_channels, w[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        prev = w[0]
        for i in range(n):
            ins = [prev] + [w[i]] * (cfg.down_layers - 1)
            self.down_blocks.append(
                UNetBlock(ins, w[i], cfg.attention[i], cfg.head_dim, "down" if i < n - 1 else None, cfg.temporal)
            )
            prev = w[i]
        self.mid_block = MidBlock(w[-1], cfg.mid_attention, cfg.head_dim, cfg.temporal)
        # Skip channels, in the order the up path pops them.
        skip_channels = [w[0]]
        for i in range(n):
            skip_channels += [w[i]] * cfg.down_layers
            if i < n - 1:
                skip_channels.append(w[i])
        self.up_blocks = nn.ModuleList()
        rw = list(reversed(w))
        prev = rw[0]
        for i in range(n):
            ins = []
            for _ in range(cfg.up_layers):
                ins.append(prev + skip_channels.pop())
                prev = rw[i]
            self.up_blocks.append(
                UNetBlock(ins, rw[i], cfg.attention[n - 1 - i], cfg.head_dim, "up" if i < n - 1 else None, cfg.temporal)
            )
        self.conv_norm_out = GroupNorm(norm_groups(w[0]), w[0], eps=1e-5)
        self.conv_out = nn.Conv2d(w[0], cfg.latent_channels, 3, padding=1)

    def forward(self, x: Tensor, frames: int) -> Tensor:
        x = self.conv_in(x)
        stack = [x]
        for block in self.down_blocks:
            x, states = block(x, frames)
            stack += states
        x = self.mid_block(x, frames)
        for block in self.up_blocks:
            k = len(block.resnets)  # type: ignore[arg-type]
            skips, stack = stack[-k:], stack[:-k]
            up_size = tuple(stack[-1].shape[-2:]) if stack and block.resample == "up" else None
            x, _ = block(x, frames, skips=skips, up_size=up_size)
        return self.conv_out(F.silu(self.conv_norm_out(x)))
