"""Dual-head discriminators for the pixel domain and the feature domain (paper Sec. 2, scaled down).

Each is a backbone, then three alternating layers (2D conv, 1D temporal conv, 2D conv) at 256 channels, then two
1x1 heads: *detail* (192 logit channels) and *consistency* (64), the paper's 75/25 split (configurable).
Backbones: no pretrained OpenCLIP ConvNeXt is available, so the pixel domain uses a small strided conv stack
trained from scratch (x16 down); the feature domain uses a small conv stack on f (x2 down) instead of the paper's
frozen stage-1 student UNet, which at the tiny scale would be most of the student's cost again.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..model.layers import conv_along_time


class TemporalConv(nn.Module):
    """Conv1d (kernel 3) along T at every position, edges replicated: (B*T, C, H, W) → same."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3)

    def forward(self, x: Tensor, frames: int) -> Tensor:
        return conv_along_time(x, frames, self.conv)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


def pixel_backbone(in_channels: int = 3, width: int = 32, features: int = 256) -> nn.Module:
    """Strided conv stack, x16 down: (N, 3, H, W) → (N, features, H/16, W/16)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 4, 2, 1), _act(),
        nn.Conv2d(width, 2 * width, 4, 2, 1), _act(),
        nn.Conv2d(2 * width, 4 * width, 4, 2, 1), _act(),
        nn.Conv2d(4 * width, features, 4, 2, 1), _act(),
    )


def feature_backbone(in_channels: int = 64, width: int = 128, features: int = 256) -> nn.Module:
    """Conv stack on the feature domain f, x2 down: (N, C_f, h, w) → (N, features, h/2, w/2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, 1, 1), _act(),
        nn.Conv2d(width, features, 4, 2, 1), _act(),
    )


class DualHeadDiscriminator(nn.Module):
    """(B, T, C, H, W) → (detail logits (B, T, detail, h, w), consistency logits (B, T, 256-detail, h, w))."""

    def __init__(self, backbone: nn.Module, features: int = 256, detail_channels: int = 192) -> None:
        super().__init__()
        if not 0 < detail_channels < features:
            raise ValueError("DualHeadDiscriminator: detail_channels must lie strictly between 0 and features")
        self.backbone = backbone
        self.spatial_a = nn.Conv2d(features, features, 3, padding=1)
        self.temporal = TemporalConv(features)
        self.spatial_b = nn.Conv2d(features, features, 3, padding=1)
        self.head_detail = nn.Conv2d(features, detail_channels, 1)
        self.head_consistency = nn.Conv2d(features, features - detail_channels, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b, t = x.shape[:2]
        h = self.backbone(x.reshape(b * t, *x.shape[2:]))
        h = F.leaky_relu(self.spatial_a(h), 0.2)
        h = F.leaky_relu(self.temporal(h, t), 0.2)
        h = F.leaky_relu(self.spatial_b(h), 0.2)
        d, c = self.head_detail(h), self.head_consistency(h)
        return d.view(b, t, *d.shape[1:]), c.view(b, t, *c.shape[1:])


class Discriminators(nn.Module):
    """The pixel-domain and feature-domain discriminators, one module so that one DDP wrapper syncs both."""

    def __init__(self, feature_channels: int = 64, detail_channels: int = 192) -> None:
        super().__init__()
        self.pixel = DualHeadDiscriminator(pixel_backbone(), detail_channels=detail_channels)
        self.feature = DualHeadDiscriminator(feature_backbone(feature_channels), detail_channels=detail_channels)

    def forward(self, images: Tensor, features: Tensor) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """Logits of both discriminators: images (B, T, 3, H, W), features (B, T, C_f, H/8, W/8)."""
        return self.pixel(images), self.feature(features)


def split_logits(logits: tuple[Tensor, Tensor], sizes: list[int], names: list[str]) -> dict[str, tuple[Tensor, Tensor]]:
    """Splits batched logits (concatenated along B in the order of `names`) back into one pair per name."""
    d, c = logits
    return {n: (dd, cc) for n, dd, cc in zip(names, torch.split(d, sizes), torch.split(c, sizes))}
