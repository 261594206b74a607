"""Dual-head discriminators for the pixel domain and the feature domain (paper Sec. 2, scaled down).

Each is a backbone, then three alternating layers (2D conv, 1D temporal conv, 2D conv) at 256 channels, then two
1x1 heads: *detail* (192 logit channels) and *consistency* (64), the paper's 75/25 split (configurable).
Backbones: no pretrained OpenCLIP ConvNeXt is available, so the pixel domain uses a small strided conv stack
trained from scratch (x16 down); the feature domain uses a small conv stack on f (x2 down) instead of the paper's
frozen stage-1 student UNet, which at the tiny scale would be most of the student's cost again.
"""
from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..model.layers import conv_along_time
from .losses import luma, remove_grid


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


# ---- heads on a feature backbone (frozen pretrained x4plus, or the same taps trained from scratch) ------------------

#: Logits of one head: several parts (per depth: spatial patch logits, global channel-statistics logits), each
#: (B, T, K); a loss averages within each part, then over parts, so that every part weighs the same.
Parts = list[Tensor]


def _sn[M: nn.Module](m: M, on: bool) -> M:
    """`m` with spectral norm on its weight where `on` (torch parametrises `m` in place and returns it)."""
    return cast(M, nn.utils.parametrizations.spectral_norm(m)) if on else m


def _signed_log(x: Tensor) -> Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def flattest_positions(x: Tensor, fraction: float) -> Tensor:
    """Indices (N, k) of the `fraction` of positions of a 4x4-block grid over `x` (N, 3, H, W), H and W multiples of
    4, whose luma has the least local contrast at that scale (standard deviation of the 4x4 block means over their
    3x3 neighbourhood): where the LR frame is flat, so where detail must be made rather than kept. Computed from the
    block means only, which the student cannot move far from its input's (the low band), so the places are the
    same for its output and for a teacher's output of the same clip."""
    if not 0 < fraction <= 1:
        raise ValueError(f"flattest_positions: fraction must be in (0, 1], got {fraction}")
    with torch.no_grad():
        m = F.avg_pool2d(luma(x.float()), 4)
        pad = F.pad(m, (1, 1, 1, 1), mode="replicate")
        var = F.avg_pool2d(pad.pow(2), 3, 1) - F.avg_pool2d(pad, 3, 1).pow(2)
        v = var.clamp_min(0).flatten(1)
        k = max(1, round(fraction * v.shape[1]))
        return v.topk(k, dim=1, largest=False).indices


def place_logit(inputs: int, hidden: int = 0) -> nn.Module:
    """The per-place detail logit of `DepthHeads`: a linear layer on `inputs` statistics, or with `hidden` > 0 a
    two-layer MLP (Linear to `hidden`, LeakyReLU 0.2, Linear to 1)."""
    if not hidden:
        return nn.Linear(inputs, 1)
    return nn.Sequential(nn.Linear(inputs, hidden), _act(), nn.Linear(hidden, 1))


class DepthHeads(nn.Module):
    """Detail and consistency heads on one feature depth (B*T, C, H, W) of T-frame clips.

    Spatial path: 3x3 stride-2 conv, 3x3 conv, temporal conv (kernel 3 along T), 3x3 stride-2 conv (spectral norm on
    all four where `spectral`), then 1x1 projections to detail and consistency logits (the 75/25 split of `width`).
    Global path: a linear detail logit per frame on the channel means and standard deviations, and a linear
    consistency logit per clip on how the channel means and the feature maps change from frame to frame. Both see
    their statistics standardised by a shift and scale that `calibrate` measures on real clips (buffers, saved with
    the heads); uncalibrated (shift 0, scale 1) they see them raw, where a linear layer at a GAN's learning rate
    learns them about ten times too slowly (MODEL_CARD.md, "Why the adversary is inert"). With `place`, a third
    path for `BackboneDiscriminator`'s `local`: a linear detail logit per 4x4 block on that block's own standardised
    channel statistics (`place_statistics`), at the places `forward` is given, in place of both detail logits above;
    with `place_hidden` > 0 that logit is a two-layer MLP (a hidden layer of that width, LeakyReLU) instead, which
    can call real what lies between two fakes (the smooth student and grain; a linear logit cannot).
    """

    stats_shift: Tensor
    stats_scale: Tensor
    step_shift: Tensor
    step_scale: Tensor
    place_shift: Tensor  # with `place` only
    place_scale: Tensor

    def __init__(self, channels: int, width: int = 64, detail_fraction: float = 0.75, spectral: bool = True,
                 flat: float = 1.0, place: bool = False, place_hidden: int = 0) -> None:
        super().__init__()
        if not 0 < flat <= 1:
            raise ValueError(f"DepthHeads: flat must be in (0, 1], got {flat}")
        if place_hidden < 0:
            raise ValueError(f"DepthHeads: place_hidden must be at least 0, got {place_hidden}")
        self.flat = flat  # the detail statistics cover this fraction of each frame's pixels: the flattest
        nd = round(width * detail_fraction)
        if not 0 < nd < width:
            raise ValueError("DepthHeads: detail_fraction must leave channels for both heads")
        self.stem = _sn(nn.Conv2d(channels, width, 3, 2, 1), spectral)
        self.spatial_a = _sn(nn.Conv2d(width, width, 3, 1, 1), spectral)
        self.temporal = TemporalConv(width)
        if spectral:
            self.temporal.conv = _sn(self.temporal.conv, True)
        self.spatial_b = _sn(nn.Conv2d(width, width, 3, 2, 1), spectral)
        self.head_detail = nn.Conv2d(width, nd, 1)
        self.head_consistency = nn.Conv2d(width, width - nd, 1)
        self.stats_detail = nn.Linear(2 * channels, 1)
        self.stats_consistency = nn.Linear(2 * channels, 1)
        # a per-place detail logit (`forward` with `keep`; `BackboneDiscriminator`'s `local`)
        self.place_detail = place_logit(2 * channels, place_hidden) if place else None
        for name in ("stats", "step", *(("place",) if place else ())):  # their standardisation (`calibrate`)
            self.register_buffer(f"{name}_shift", torch.zeros(2 * channels))
            self.register_buffer(f"{name}_scale", torch.ones(2 * channels))

    def statistics(self, f: Tensor, frames: int) -> tuple[Tensor, Tensor]:
        """Raw inputs of the statistics paths: per frame the signed log of the channel means and standard deviations
        (B*T, 2C), over the `flat` fraction of its pixels with the least local feature energy (5x5 mean of the
        squared maps; all pixels at 1); per clip the log of the mean absolute frame-to-frame change of the channel
        means and of the maps over all pixels (B, 2C; zeros for one-frame clips)."""
        return self._frame_statistics(f), self._step_statistics(f, frames)

    def _frame_statistics(self, f: Tensor) -> Tensor:
        n = f.shape[0]
        if self.flat < 1:
            with torch.no_grad():
                energy = F.avg_pool2d(f.pow(2).mean(1, keepdim=True), 5, 1, 2).flatten(1)  # (N, H*W)
                keep = energy <= torch.quantile(energy.float(), self.flat, dim=1, keepdim=True).to(energy.dtype)
                w = (keep / keep.sum(1, keepdim=True)).view(n, 1, *f.shape[2:]).to(f.dtype)
            fm = (f * w).sum((2, 3))
            fs = ((f - fm[..., None, None]).pow(2) * w).sum((2, 3)).clamp_min(1e-12).sqrt()
            return _signed_log(torch.cat([fm, fs], 1))
        return _signed_log(torch.cat([f.mean((2, 3)), f.std((2, 3))], 1))

    def _step_statistics(self, f: Tensor, frames: int) -> Tensor:
        n, c = f.shape[:2]
        b = n // frames
        if frames == 1:
            return f.new_zeros(b, 2 * c)  # log1p(0)
        m = f.mean((2, 3)).view(b, frames, c)
        fv = f.view(b, frames, *f.shape[1:])
        step = torch.cat([(m[:, 1:] - m[:, :-1]).abs().mean(1), (fv[:, 1:] - fv[:, :-1]).abs().mean((1, 3, 4))], 1)
        return torch.log1p(step)

    @staticmethod
    def place_statistics(f: Tensor) -> Tensor:
        """Per place of the 4x4-block grid (the spatial logits' grid): the signed log of the channel means and
        standard deviations over the block, (N, 2C, H/4 * W/4)."""
        m, m2 = F.avg_pool2d(f, 4), F.avg_pool2d(f * f, 4)
        return _signed_log(torch.cat([m, (m2 - m * m).clamp_min(1e-12).sqrt()], 1)).flatten(2)

    @torch.no_grad()
    def calibrate(self, f: Tensor, frames: int) -> None:
        """Sets the statistics paths' shift and scale to standardise `f`'s statistics (real clips, (B*T, C, H, W))."""
        st, step = self.statistics(f.float(), frames)
        todo = [("stats", st), ("step", step)]
        if self.place_detail is not None:
            todo.append(("place", self.place_statistics(f.float()).transpose(1, 2).flatten(0, 1)))  # all places
        for name, x in todo:
            if x.shape[0] < 2:
                unit = {"stats": "frames", "step": "clips", "place": "places"}[name]
                raise ValueError(f"DepthHeads.calibrate: needs at least 2 {unit}")
            getattr(self, f"{name}_shift").copy_(x.mean(0))
            getattr(self, f"{name}_scale").copy_(1.0 / (x.std(0) + 1e-3))

    def forward(self, f: Tensor, frames: int, keep: Tensor | None = None) -> tuple[Parts, Parts]:
        """Detail parts: the spatial logits and the statistics logit; where `keep` (B*T, k) indexes places of the
        spatial logits' grid (1/4 of `f`'s side: 4x4 blocks), a linear logit on each of those places' own
        standardised channel statistics (`place_statistics`) and nothing crop-wide (`BackboneDiscriminator`'s
        `local`). Consistency parts: spatial logits and the per-clip statistics logit."""
        b = f.shape[0] // frames
        h = F.leaky_relu(self.stem(f), 0.2)
        h = F.leaky_relu(self.spatial_a(h), 0.2)
        h = F.leaky_relu(self.temporal(h, frames), 0.2)
        h = F.leaky_relu(self.spatial_b(h), 0.2)
        cs = self.head_consistency(h).reshape(b, frames, -1)
        step = self._step_statistics(f, frames)
        sc = self.stats_consistency((step - self.step_shift) * self.step_scale).view(b, 1, 1).expand(b, frames, 1)
        if keep is not None:
            if self.place_detail is None:
                raise ValueError("DepthHeads: made without place=True, it has no per-place detail logit")
            ps = self.place_statistics(f)
            if keep.shape[0] != ps.shape[0] or int(keep.max()) >= ps.shape[2]:
                raise ValueError(f"DepthHeads: keep {tuple(keep.shape)} does not index {ps.shape[2]} places of "
                                 f"{ps.shape[0]} frames")
            ps = ps.gather(2, keep[:, None].expand(-1, ps.shape[1], -1)).transpose(1, 2)  # (B*T, k, 2C)
            d = self.place_detail((ps - self.place_shift) * self.place_scale).reshape(b, frames, -1)
            return [d], [cs, sc]
        st = self._frame_statistics(f)  # not on the per-place path, which has no crop-wide detail logit
        sd = self.stats_detail((st - self.stats_shift) * self.stats_scale).view(b, frames, 1)
        return [self.head_detail(h).reshape(b, frames, -1), sd], [cs, sc]

    def statistics_parameters(self) -> list[nn.Parameter]:
        """The linear statistics layers' parameters (for their own learning rate: `--d-stats-lr`)."""
        place = [*self.place_detail.parameters()] if self.place_detail is not None else []
        return [*self.stats_detail.parameters(), *self.stats_consistency.parameters(), *place]


class ScratchFeatures(nn.Module):
    """A trainable stand-in for the frozen backbone (the comparison): 3x3 convolutions of 64 channels with
    LeakyReLU, tapped at the same depths; (N, 3, H, W) in [-1, 1] → one (N, 64, H, W) map per depth."""

    def __init__(self, depths: tuple[int, ...] = (6, 16), width: int = 64) -> None:
        super().__init__()
        self.depths = tuple(depths)
        self.channels = (width,) * len(depths)
        self.convs = nn.ModuleList(nn.Conv2d(3 if i == 0 else width, width, 3, 1, 1) for i in range(max(depths)))

    def forward(self, x: Tensor) -> list[Tensor]:
        out = []
        for i, conv in enumerate(self.convs, 1):
            x = F.leaky_relu(conv(x), 0.2)
            if i in self.depths:
                out.append(x)
        return out


class BackboneDiscriminator(nn.Module):
    """Pixel-domain dual-head discriminator on a feature backbone: (B, T, 3, H, W) in [-1, 1] → (detail parts,
    consistency parts).

    `backbone="x4plus"`: Real-ESRGAN x4plus's first convolutions, frozen and pretrained (`feature_backbone`), held
    outside the module tree (never in an optimiser or a state_dict; moved to the input's device when used);
    `"scratch"`: `ScratchFeatures`, trained with the heads. One `DepthHeads` per tapped depth. `local` > 0: the
    detail head judges each 4x4 block of that fraction of each frame's blocks where the frame is flattest at LR
    scale (`flattest_positions`) on its own (`DepthHeads` with `place`), with nothing crop-wide, so that the
    student can answer it only with what it makes in flat areas, not with what it does at edges; `place_hidden`
    makes that per-place logit an MLP (`DepthHeads`).
    """

    calibrated: Tensor

    def __init__(self, backbone: str = "x4plus", depths: tuple[int, ...] = (6, 16), width: int = 64,
                 detail_fraction: float = 0.75, spectral: bool = True, luma: bool = False, flat: float = 1.0,
                 degrid: bool = False, local: float = 0.0, degrid_window: int = 0, place_hidden: int = 0) -> None:
        super().__init__()
        if not 0 <= local <= 1:
            raise ValueError(f"BackboneDiscriminator: local must be in [0, 1], got {local}")
        self.local = local
        self.backbone_kind = backbone
        self.luma = luma  # see luma only (BT.601 Y on all three channels): no pressure on the student's colours
        self.degrid = degrid  # see each frame less its 4-px periodic pattern: no pressure towards a screen door
        self.degrid_window = degrid_window  # that pattern per tile of this many 4x4 blocks (0: the whole frame)
        if backbone == "x4plus":
            from .feature_backbone import FrozenX4plusFeatures

            frozen = FrozenX4plusFeatures(tuple(depths))
            self._frozen: tuple[nn.Module, ...] = (frozen,)  # a tuple: not a registered submodule
            channels = frozen.channels
            self.scratch: nn.Module | None = None
        elif backbone == "scratch":
            self._frozen = ()
            self.scratch = ScratchFeatures(tuple(depths))
            channels = self.scratch.channels
        else:
            raise ValueError(f"BackboneDiscriminator: backbone must be x4plus or scratch, got {backbone!r}")
        self.heads = nn.ModuleList(DepthHeads(c, width, detail_fraction, spectral, flat, place=bool(local),
                                              place_hidden=place_hidden) for c in channels)
        self.register_buffer("calibrated", torch.tensor(False))  # `calibrate` has run (saved with the state)

    @property
    def frozen_backbone(self) -> nn.Module | None:
        """The frozen pretrained backbone (None for a scratch backbone)."""
        return self._frozen[0] if self._frozen else None

    def features(self, x: Tensor) -> list[Tensor]:
        """(N, 3, H, W) → the backbone's maps at each tapped depth (of the luma where `luma`; of the frames less
        their 4-px periodic pattern, `losses.remove_grid` over `degrid_window`, where `degrid`)."""
        if self.degrid:
            x = remove_grid(x, self.degrid_window)
        if self.luma:
            x = (luma(x) * 2 - 1).expand(-1, 3, -1, -1)  # Y back in [-1, 1], the input's range
        fb = self.frozen_backbone
        if fb is None:
            assert self.scratch is not None
            return self.scratch(x)
        w = next(fb.parameters())
        if w.device != x.device:
            fb.to(x.device)
        return fb(x)

    @torch.no_grad()
    def calibrate(self, x: Tensor) -> None:
        """Standardises every head's statistics paths on real clips `x` (B, T, 3, H, W) in [-1, 1]."""
        b, t = x.shape[:2]
        for f, head in zip(self.features(x.reshape(b * t, *x.shape[2:]).contiguous()), self.heads):
            cast(DepthHeads, head).calibrate(f, t)
        self.calibrated.fill_(True)

    def forward(self, x: Tensor) -> tuple[Parts, Parts]:
        b, t = x.shape[:2]
        frames = x.reshape(b * t, *x.shape[2:]).contiguous()
        keep = flattest_positions(frames, self.local) if self.local else None
        detail: Parts = []
        consistency: Parts = []
        for f, head in zip(self.features(frames), self.heads):
            d, c = head(f, t, keep)
            detail += d
            consistency += c
        return detail, consistency
