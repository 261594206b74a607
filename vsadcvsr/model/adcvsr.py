"""AdcVSR: PixelUnshuffle → pruned UNet → decoder mid block (f) → half decoder, with temporal blocks in the UNet."""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import AdcVSRConfig
from .decoder import HalfDecoder
from .unet import PrunedUNet


class AdcVSROutput(NamedTuple):
    image: Tensor  # (B, T, 3, 4h, 4w) in [-1, 1], unclamped, before colour correction
    feature: Tensor  # (B, T, C_latent, h/2, w/2): the decoder mid-block output f (padded grid)


class AdcVSR(nn.Module):
    """x4 video super-resolution student. Input (B, T, 3, h, w) in [-1, 1]; any h, w (padded internally)."""

    def __init__(self, cfg: AdcVSRConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.unet = PrunedUNet(cfg, in_channels=12)
        self.decoder = HalfDecoder(cfg)

    def forward_features(self, x: Tensor, render_chunk: int = 0) -> AdcVSROutput:
        """Runs the network; returns the image and the feature f (both for the padded input).

        The decoder has no temporal layers, so `render_chunk` > 0 renders that many frames at a time (less memory).
        """
        if x.dim() != 5 or x.shape[2] != 3:
            raise ValueError(f"AdcVSR: expected (B, T, 3, h, w), got {tuple(x.shape)}")
        b, t, _, h, w = x.shape
        m = self.cfg.size_multiple
        ph, pw = -h % m, -w % m
        y = x.reshape(b * t, 3, h, w)
        if ph or pw:
            y = F.pad(y, (0, pw, 0, ph), mode="replicate")
        y = F.pixel_unshuffle(y, 2)
        f = self.decoder.features(self.unet(y, t))
        if render_chunk > 0 and f.shape[0] > render_chunk:
            img = torch.cat([self.decoder.render(c) for c in f.split(render_chunk)])
        else:
            img = self.decoder.render(f)
        return AdcVSROutput(img.reshape(b, t, *img.shape[1:]), f.reshape(b, t, *f.shape[1:]))

    def render(self, f: Tensor, lr: Tensor | None = None) -> Tensor:
        """Feature f (N, C, h/2, w/2) → image (N, 3, 4h, 4w) in [-1, 1] (the LR frames are not needed here)."""
        return self.decoder.render(f)

    def forward(self, x: Tensor, render_chunk: int = 0) -> Tensor:
        """(B, T, 3, h, w) in [-1, 1] → (B, T, 3, 4h, 4w) in [-1, 1] (unclamped, no colour correction)."""
        h, w = x.shape[-2:]
        img = self.forward_features(x, render_chunk).image
        return img[..., : 4 * h, : 4 * w]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
