"""The half-width VAE decoder of AdcSR: mid block (the feature domain f), up blocks and the RGB tail."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .config import AdcVSRConfig
from .layers import GroupNorm, ResnetBlock2D, Upsample2D, VAEAttention, norm_groups


class DecoderMidBlock(nn.Module):
    """ResNet, single-head attention (optional), ResNet; GN eps 1e-6 as in the VAE."""

    def __init__(self, channels: int, attention: bool) -> None:
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, eps=1e-6) for _ in range(2)])
        self.attentions = nn.ModuleList([VAEAttention(channels)]) if attention else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.resnets[0](x)
        if self.attentions is not None:
            x = self.attentions[0](x)
        return self.resnets[1](x)


class UpDecoderBlock2D(nn.Module):
    def __init__(self, cin: int, cout: int, layers: int, upsample: bool) -> None:
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, eps=1e-6) for i in range(layers)])
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if upsample else None

    def forward(self, x: Tensor) -> Tensor:
        for r in self.resnets:
            x = r(x)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class HalfDecoder(nn.Module):
    """Latent (N, latent_channels, h/2, w/2) → RGB (N, 3, 4h, 4w) in [-1, 1] (unclamped)."""

    def __init__(self, cfg: AdcVSRConfig) -> None:
        super().__init__()
        self.mid_block = DecoderMidBlock(cfg.latent_channels, cfg.decoder_mid_attention)
        self.up_blocks = nn.ModuleList()
        prev = cfg.latent_channels
        for width, layers, up in zip(cfg.decoder_widths, cfg.decoder_layers, cfg.decoder_upsample):
            if layers == 0 and width != prev:
                raise ValueError("HalfDecoder: a block without ResNets cannot change the width")
            self.up_blocks.append(UpDecoderBlock2D(prev, width, layers, up))
            prev = width
        self.conv_norm_out = GroupNorm(norm_groups(prev), prev, eps=1e-6) if cfg.decoder_tail_norm else None
        self.shuffle = cfg.decoder_shuffle
        self.conv_out = nn.Conv2d(prev, 3 * self.shuffle**2, 3, padding=1)

    def features(self, latent: Tensor) -> Tensor:
        """The mid-block output f: the feature domain of distillation and of the feature discriminator."""
        return self.mid_block(latent)

    def render(self, f: Tensor) -> Tensor:
        """Feature f → RGB in [-1, 1] (unclamped)."""
        x = f
        for block in self.up_blocks:
            x = block(x)
        if self.conv_norm_out is not None:
            x = self.conv_norm_out(x)
        x = self.conv_out(F.silu(x))
        return F.pixel_shuffle(x, self.shuffle) if self.shuffle > 1 else x
