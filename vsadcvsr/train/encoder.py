"""The encoder that maps teacher images into the student's feature domain f (the paper uses the SD VAE encoder).

No pretrained VAE is available, so the encoder is trained here, jointly with the student: an autoencoder loss
`|decoder.render(enc(x)) - x|` over the teacher images trains the encoder *and* the student's own decoder, which
makes f a reconstructable latent space as in the paper, while the feature loss pulls the student's f towards
`enc(teacher)` (the target is detached). The output is group-normalised without affine parameters, so the feature
L1 cannot be lowered by shrinking both sides towards zero (the decoder's first GroupNorm would hide the scale).
It starts with a x4 pixel unshuffle so that no convolution runs at the full HR size (CPU time).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class FeatureEncoder(nn.Module):
    """HR RGB (N, 3, H, W) in [-1, 1] → (N, channels, H/stride, W/stride), normalised per sample and group.

    `stride` 8 (the AdcVSR latent grid) or 4 (the compact student's LR grid: no strided convolution)."""

    def __init__(self, channels: int = 64, width: int = 64, groups: int = 8, stride: int = 8) -> None:
        super().__init__()
        if stride not in (4, 8):
            raise ValueError(f"FeatureEncoder: stride must be 4 or 8, not {stride}")
        self.groups = groups
        down = (nn.Conv2d(2 * width, 2 * width, 4, stride=2, padding=1) if stride == 8 else
                nn.Conv2d(2 * width, 2 * width, 3, padding=1))
        self.body = nn.Sequential(
            nn.PixelUnshuffle(4),
            nn.Conv2d(48, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.SiLU(),
            down, nn.SiLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(2 * width, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.group_norm(self.body(x), self.groups, eps=1e-5)
