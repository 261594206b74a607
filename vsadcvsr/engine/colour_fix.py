"""Colour correction of the model's output against its input, as AdcSR's inference offers it.

- "wavelet": the output keeps its high frequencies and takes its low frequencies (colour, brightness, gradual shading)
  from the bicubic-upscaled input, per frame (StableSR / AdcSR's wavelet colour fix).
- "adain": each channel's mean and std over the whole window are matched to the input's.
- "none": the network's output as it is.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

COLOUR_FIXES = ("wavelet", "adain", "none")
DEFAULT_COLOUR_FIX = "wavelet"
WAVELET_LEVELS = 3  # best of 3-6 on held-out footage (bikes shots 4-5, mild x4; docs/results.md)


def colour_fix_mode(value: bool | str) -> str:
    """True → the default mode, False → "none", a name of `COLOUR_FIXES` → itself; ValueError otherwise."""
    if value is True:
        return DEFAULT_COLOUR_FIX
    if value is False:
        return "none"
    if isinstance(value, str) and value in COLOUR_FIXES:
        return value
    raise ValueError(f"colour_fix must be True, False or one of {', '.join(COLOUR_FIXES)}; got {value!r}")


def apply_colour_fix(mode: str, out: Tensor, lr: Tensor) -> Tensor:
    """`out` (T, 3, H, W) corrected against its input `lr` (T, 3, h, w), both in the same value range.

    In place: "adain" takes its statistics over the window, "wavelet" works frame by frame, so at large sizes the
    temporaries are those of one frame, not of the window."""
    if mode == "wavelet":
        for i in range(out.shape[0]):
            wavelet_fix(out[i : i + 1], lr[i : i + 1], in_place=True)
        return out
    if mode == "adain":
        return match_statistics(out, lr, in_place=True)
    if mode == "none":
        return out
    raise ValueError(f"unknown colour fix {mode!r}")


def match_statistics(out: Tensor, ref: Tensor, eps: float = 1e-5, in_place: bool = False) -> Tensor:
    """Shifts and scales each channel of `out` (T, 3, H, W) so its mean/std over the whole window equal `ref`'s.

    Statistics are taken over all frames of the window (per-frame statistics flicker). `in_place` overwrites `out`.
    """
    dims = (0, 2, 3)
    o_mean, o_std = out.mean(dims, keepdim=True), out.std(dims, keepdim=True)
    r_mean, r_std = ref.mean(dims, keepdim=True), ref.std(dims, keepdim=True)
    if in_place:
        return out.sub_(o_mean).div_(o_std + eps).mul_(r_std).add_(r_mean)
    return (out - o_mean) / (o_std + eps) * r_std + r_mean


def _binomial(x: Tensor, d: int, dim: int) -> Tensor:
    """[1, 2, 1] / 4 along `dim` with taps `d` apart, edges replicated, by slices and adds (a depthwise conv2d of
    three channels is ~3x slower on the CPU): the outer taps are summed into one buffer (the edges' from the edge
    pixel), which saves padding a copy; autograd and frames smaller than the taps take the padded copy."""
    n = x.shape[dim]
    if n < 2 * d or (x.requires_grad and torch.is_grad_enabled()):  # small frames, training: pad, then slice
        shape = [-1] * x.dim()
        shape[dim] = d
        p = torch.cat([x.narrow(dim, 0, 1).expand(shape), x, x.narrow(dim, n - 1, 1).expand(shape)], dim)
        return (p.narrow(dim, 0, n) + p.narrow(dim, 2 * d, n)).mul_(0.25).add_(x, alpha=0.5)
    outer = torch.empty_like(x)
    torch.add(x.narrow(dim, 0, n - 2 * d), x.narrow(dim, 2 * d, n - 2 * d), out=outer.narrow(dim, d, n - 2 * d))
    torch.add(x.narrow(dim, 0, 1), x.narrow(dim, d, d), out=outer.narrow(dim, 0, d))
    torch.add(x.narrow(dim, n - 2 * d, d), x.narrow(dim, n - 1, 1), out=outer.narrow(dim, n - d, d))
    return outer.mul_(0.25).add_(x, alpha=0.5)


def wavelet_low(x: Tensor, levels: int = WAVELET_LEVELS) -> Tensor:
    """Low-pass of (N, C, H, W): `levels` passes of a 3x3 binomial kernel dilated 1, 2, 4, ... (à trous wavelet),
    each on the replicate-padded result of the last; the kernel is separable, so each pass is two 1-D ones."""
    if x.dim() != 4:
        raise ValueError(f"wavelet_low: expected (N, C, H, W), got {tuple(x.shape)}")
    for i in range(levels):
        d = 2**i
        x = _binomial(_binomial(x, d, 3), d, 2)
    return x


@functools.lru_cache(maxsize=8)
def _cubic_kernel(scale: int, channels: int) -> Tensor:
    """The grouped (channels·scale², 1, 5, 5) float64 kernel of `bicubic_up`, built once per scale and channel count
    (it is asked for every frame)."""
    k1 = torch.tensor(_cubic_phases(scale), dtype=torch.float64)
    return torch.einsum("ai,bj->abij", k1, k1).reshape(scale * scale, 1, 5, 5).repeat(channels, 1, 1, 1)


def _cubic_phases(scale: int) -> list[list[float]]:
    """For each of the `scale` output phases of an integer bicubic upscale (a = -0.75, align_corners=False), its
    weights on the input pixels at offsets -2..2."""
    def near(x: float) -> float:  # |x| <= 1
        return ((1.25 * x - 2.25) * x) * x + 1

    def far(x: float) -> float:  # 1 < |x| < 2
        return ((-0.75 * x + 3.75) * x - 6.0) * x + 3.0

    rows = []
    for p in range(scale):
        src = (p + 0.5) / scale - 0.5  # in (-0.5, 0.5): taps floor(src) - 1 .. floor(src) + 2
        lo = math.floor(src)
        t = src - lo
        row = [0.0] * 5
        for k, weight in enumerate((far(t + 1), near(t), near(1 - t), far(2 - t))):
            row[lo + 1 + k] += weight
        rows.append(row)
    return rows


def bicubic_up(lr: Tensor, scale: int) -> Tensor:
    """(N, C, h, w) → (N, C, scale·h, scale·w): `F.interpolate(mode="bicubic", align_corners=False)` (the same
    numbers within float rounding) as one grouped 5x5 convolution per output phase at input size and a
    PixelShuffle: 3x faster on the CPU at 720p output."""
    c = lr.shape[1]
    kernel = _cubic_kernel(scale, c).to(lr.device, lr.dtype)  # a copy: the cached kernel is never written to
    phases = F.conv2d(F.pad(lr, (2, 2, 2, 2), mode="replicate"), kernel, groups=c)
    return F.pixel_shuffle(phases, scale)


def wavelet_fix(out: Tensor, lr: Tensor, levels: int = WAVELET_LEVELS, in_place: bool = False) -> Tensor:
    """`out` with its low frequencies replaced by those of `lr` upscaled (bicubic) to `out`'s size (`in_place`:
    written over `out`).

    That is `out - low(out) + low(ref)`; the low-pass is linear, so it is computed once, as `out + low(ref - out)`."""
    (h, w), (big_h, big_w) = lr.shape[-2:], out.shape[-2:]
    if big_h % h == 0 and big_w % w == 0 and big_h // h == big_w // w:  # an integer scale: the polyphase form
        ref = bicubic_up(lr.to(out.dtype), big_h // h)
    else:
        ref = F.interpolate(lr.to(out.dtype), size=out.shape[-2:], mode="bicubic", align_corners=False)
    low = wavelet_low(ref.sub_(out), levels)
    return out.add_(low) if in_place else out + low
