"""CompactVSR: an SRVGG-type x4 student (convolutions at LR resolution, PixelShuffle(4), plus the nearest-upsampled
input), with zero-initialised temporal blocks between its layers: the paper's recipe (a pretrained one-step 2D
SR network + 1D temporal blocks, then distillation) on a 2D network small enough for the CPU."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .adcvsr import AdcVSROutput
from .config import CompactConfig
from .layers import TemporalBlock


def add_detail(detail: Tensor, lr: Tensor) -> Tensor:
    """The picture from the output convolution's (N, 3·16, h, w) and the frames (N, 3, h, w): `2 · PixelShuffle(4)
    (detail) + nearest x4 (lr)`, in `lr`'s dtype. The sum is taken at LR size, each sub-pixel channel plus its
    frame's channel, then shuffled once: the same numbers as upsampling first, with two passes over HR memory
    fewer (8.7 → 2.5 ms per 720p frame on 2 CPU cores)."""
    n, c, h, w = lr.shape
    s = torch.add(lr[:, :, None], detail.to(lr.dtype).reshape(n, c, 16, h, w), alpha=2)
    return F.pixel_shuffle(s.reshape(n, c * 16, h, w), 4)  # a view where the layout allows, as it does here


class CompactVSR(nn.Module):
    """x4 video super-resolution student. Input (B, T, 3, h, w) in [-1, 1]; any h, w; the output has the input's
    dtype whatever the weights' (fp32 frames through bf16 weights: see `render`).

    The convolutions are those of Real-ESRGAN's SRVGGNetCompact (so its weights import one to one), working on
    [0, 1] inside; the frame is padded by reflection (`cfg.pad`) so its borders see image, not zeros.
    """

    def __init__(self, cfg: CompactConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.conv_in = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(c, c, 3, padding=1) for _ in range(cfg.convs))
        self.acts = nn.ModuleList(nn.PReLU(c) for _ in range(cfg.convs + 1))
        self.temporals = nn.ModuleDict({str(i): TemporalBlock(c) for i in cfg.temporal_sites})
        self.conv_out = nn.Conv2d(c, 3 * 16, 3, padding=1)
        if cfg.noise_channels:  # starts at zero: a fresh noise input changes nothing
            self.noise_in = nn.Conv2d(cfg.noise_channels, c, 1, bias=False)
            nn.init.zeros_(self.noise_in.weight)

    @property
    def noise_site(self) -> int:
        """The activation that the noise is added to (the input of the last `temporal_every` convolutions)."""
        return self.cfg.convs - self.cfg.temporal_every

    def _margin(self, h: int, w: int) -> int:
        return max(0, min(self.cfg.pad, h - 1, w - 1))  # reflection needs the pad smaller than the frame

    def features(self, x: Tensor, frames: int, noise: Tensor | None = None) -> Tensor:
        """(B·T, 3, h, w) in [-1, 1] (already padded) → the last activation f (B·T, C, h, w): the feature domain.
        `noise` (B·T, noise_channels, h, w), padded alike, is added at `noise_site`."""
        y = self.acts[0](self.conv_in(x * 0.5 + 0.5))
        for i, conv in enumerate(self.body, start=1):
            if str(i - 1) in self.temporals:
                y = self.temporals[str(i - 1)](y, frames, inplace=True)  # y is this method's own
            if noise is not None and i - 1 == self.noise_site:
                y = y + self.noise_in(noise)
            y = self.acts[i](conv(y))
        last = str(len(self.body))
        return self.temporals[last](y, frames, inplace=True) if last in self.temporals else y

    def render(self, f: Tensor, lr: Tensor) -> Tensor:
        """f (N, C, h, w) and the LR frames it came from (N, 3, h, w) in [-1, 1] → (N, 3, 4h, 4w) in [-1, 1].

        The detail is added to the upsampled frames in their own dtype: with fp32 frames and bf16/fp16 weights
        only the detail carries the low precision, not the picture."""
        return add_detail(self.conv_out(f.to(self.conv_out.weight.dtype)), lr)

    def forward_features(self, x: Tensor, render_chunk: int = 0, noise: Tensor | None = None) -> AdcVSROutput:
        """Runs the network; returns the image (B, T, 3, 4h, 4w) and the feature f (B, T, C, h, w). `noise`
        (B, T, noise_channels, h, w): the noise input of a network that has one (None: none)."""
        if x.dim() != 5 or x.shape[2] != 3:
            raise ValueError(f"CompactVSR: expected (B, T, 3, h, w), got {tuple(x.shape)}")
        b, t, _, h, w = x.shape
        if noise is not None and (not self.cfg.noise_channels
                                  or tuple(noise.shape) != (b, t, self.cfg.noise_channels, h, w)):
            raise ValueError(f"CompactVSR: noise of shape {tuple(noise.shape)} for a network with "
                             f"{self.cfg.noise_channels} noise channels and input {tuple(x.shape)}")
        p = self._margin(h, w)
        y = x.reshape(b * t, 3, h, w)
        n = None if noise is None else noise.reshape(b * t, -1, h, w)
        if p:
            y = F.pad(y, (p, p, p, p), mode="reflect")
            n = None if n is None else F.pad(n, (p, p, p, p), mode="reflect")
        f = self.features(y.to(self.conv_in.weight.dtype), t,
                          None if n is None else n.to(self.conv_in.weight.dtype))
        if render_chunk > 0 and f.shape[0] > render_chunk:
            img = torch.cat([self.render(c, lr) for c, lr in zip(f.split(render_chunk), y.split(render_chunk))])
        else:
            img = self.render(f, y)
        img = img[..., 4 * p: 4 * (p + h), 4 * p: 4 * (p + w)]
        f = f[..., p: p + h, p: p + w]
        return AdcVSROutput(img.reshape(b, t, *img.shape[1:]), f.reshape(b, t, *f.shape[1:]))

    def forward(self, x: Tensor, render_chunk: int = 0) -> Tensor:
        """(B, T, 3, h, w) in [-1, 1] → (B, T, 3, 4h, 4w) in [-1, 1] (unclamped, no colour correction)."""
        return self.forward_features(x, render_chunk).image
