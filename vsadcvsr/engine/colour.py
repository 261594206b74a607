"""Video planes (YUV / RGB / GRAY, integer or float, any subsampling) to RGB tensors in [0, 1] and back.

Pure torch: every conversion runs on the device its input lives on, in float32.
Conventions follow VapourSynth / zimg: limited-range integers scale 16-235 (Y) and 16-240 (C) by 2^(bits-8);
full-range chroma is centred at 2^(bits-1) with a scale of 2^bits - 1; float YUV has Y in [0, 1], U/V in
[-0.5, 0.5]; plane order is Y, U, V or R, G, B.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "PlaneFormat",
    "planes_to_rgb",
    "rgb_to_planes",
    "luma",
    "default_matrix",
    "matrix_from_props",
    "full_range_from_props",
]

#: (Kr, Kb) of each matrix; BT.2020 is the non-constant-luminance form.
KR_KB: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
}

Family = Literal["yuv", "rgb", "gray"]
Matrix = Literal["bt601", "bt709", "bt2020"]


@dataclass(frozen=True)
class PlaneFormat:
    """How a frame's planes store colour.

    `subsampling` is log2 of the chroma subsampling (w, h): 4:2:0 is (1, 1), 4:2:2 is (1, 0).
    `matrix` and `chroma_left` matter for yuv only; `full_range` for integer yuv/gray only (integer rgb is
    always full range). `chroma_left` is MPEG-2 siting (chroma co-sited with the left luma sample); False is
    centred (JPEG / MPEG-1). Vertically, subsampled chroma is always centred between luma rows.
    """

    family: Family
    bits: int
    is_float: bool
    subsampling: tuple[int, int] = (0, 0)
    matrix: Matrix = "bt709"
    full_range: bool = False
    chroma_left: bool = True

    def __post_init__(self) -> None:
        if self.family not in ("yuv", "rgb", "gray"):
            raise ValueError(f"unknown family {self.family!r}")
        if self.is_float and self.bits not in (16, 32):
            raise ValueError(f"float planes must have 16 or 32 bits, not {self.bits}")
        if not self.is_float and not 8 <= self.bits <= 16:
            raise ValueError(f"integer planes must have 8 to 16 bits, not {self.bits}")
        if self.matrix not in KR_KB:
            raise ValueError(f"unknown matrix {self.matrix!r}")
        sw, sh = self.subsampling
        if not (0 <= sw <= 2 and 0 <= sh <= 2):
            raise ValueError(f"unsupported subsampling {self.subsampling}")
        if self.family != "yuv" and (sw or sh):
            raise ValueError(f"{self.family} planes cannot be subsampled")

    @property
    def num_planes(self) -> int:
        return 1 if self.family == "gray" else 3


#: H.273 matrix codes of the two guesses for untagged video.
BT709_CODE, BT601_CODE = 1, 6


def default_matrix(width: int, height: int) -> int:
    """The H.273 matrix code assumed for untagged YUV video, the one rule of every adapter (mpv's):
    BT.709 (1) for HD, i.e. width >= 1280 or height > 576, else BT.601 (6, SMPTE 170M)."""
    return BT709_CODE if width >= 1280 or height > 576 else BT601_CODE


def matrix_from_props(matrix_code: int | None, width: int, height: int) -> Matrix:
    """The matrix of a `_Matrix` code (ITU-T H.273); unspecified (2) or missing: `default_matrix(width, height)`.

    Raises ValueError for codes this layer cannot convert (0 = RGB, FCC, SMPTE 240M, YCgCo, ICtCp, ...).
    Code 10 (BT.2020 constant luminance) is treated as BT.2020 non-constant luminance.
    """
    if matrix_code is None or matrix_code == 2:
        matrix_code = default_matrix(width, height)
    if matrix_code == 1:
        return "bt709"
    if matrix_code in (5, 6):
        return "bt601"
    if matrix_code in (9, 10):
        return "bt2020"
    raise ValueError(f"unsupported _Matrix {matrix_code}")


def full_range_from_props(range_code: int | None, family: str) -> bool:
    """Whether a `_ColorRange` code means full range (0 full, 1 limited); missing: full for rgb, else limited."""
    if range_code is None:
        return family == "rgb"
    if range_code in (0, 1):
        return range_code == 0
    raise ValueError(f"unsupported _ColorRange {range_code}")


def _coefficients(matrix: str) -> tuple[float, float, float]:
    try:
        kr, kb = KR_KB[matrix]
    except KeyError:
        raise ValueError(f"unknown matrix {matrix!r}") from None
    return kr, 1.0 - kr - kb, kb


def luma(rgb: Tensor, matrix: str = "bt709") -> Tensor:
    """Y' of gamma-encoded RGB: (..., 3, H, W) -> (..., H, W), in the dtype of `rgb`."""
    kr, kg, kb = _coefficients(matrix)
    return kr * rgb[..., 0, :, :] + kg * rgb[..., 1, :, :] + kb * rgb[..., 2, :, :]


@lru_cache(maxsize=32)
def _matrices(matrix: str, device: torch.device) -> tuple[Tensor, Tensor]:
    """(RGB -> YCbCr, YCbCr -> RGB) 3x3 matrices; Cb, Cr in [-0.5, 0.5]."""
    kr, kg, kb = _coefficients(matrix)
    cb, cr = 0.5 / (1.0 - kb), 0.5 / (1.0 - kr)
    fwd = torch.tensor([[kr, kg, kb], [-kr * cb, -kg * cb, 0.5], [0.5, -kg * cr, -kb * cr]], dtype=torch.float64)
    return fwd.to(device, torch.float32), torch.linalg.inv(fwd).to(device, torch.float32)


def _apply(m: Tensor, x: Tensor) -> Tensor:
    """A 3x3 matrix applied to every pixel of (3, H, W)."""
    return (m @ x.reshape(3, -1)).reshape(x.shape)


# --- integer code values <-> normalised values -------------------------------------------------------------

def _scale_offset(fmt: PlaneFormat, chroma: bool) -> tuple[float, float]:
    """(scale, offset) with code = value * scale + offset for an integer plane of `fmt`."""
    peak = float((1 << fmt.bits) - 1)
    if fmt.family == "rgb":
        return peak, 0.0
    if fmt.full_range:
        return peak, float(1 << (fmt.bits - 1)) if chroma else 0.0
    step = float(1 << (fmt.bits - 8))
    return (224.0 * step, 128.0 * step) if chroma else (219.0 * step, 16.0 * step)


def _to_float(plane: Tensor, fmt: PlaneFormat, chroma: bool) -> Tensor:
    x = plane.to(torch.float32)
    if fmt.is_float:
        return x
    scale, offset = _scale_offset(fmt, chroma)
    return (x - offset) * (1.0 / scale)


def _from_float(x: Tensor, fmt: PlaneFormat, chroma: bool) -> Tensor:
    if fmt.is_float:
        return x.to(torch.float16 if fmt.bits == 16 else torch.float32)
    scale, offset = _scale_offset(fmt, chroma)
    # Round half up like zimg; clamp to the codes the depth can hold.
    code = torch.floor(x * scale + (offset + 0.5)).clamp_(0.0, float((1 << fmt.bits) - 1))
    return code.to(torch.int32).to(torch.uint8 if fmt.bits == 8 else torch.uint16)


# --- chroma resampling ---------------------------------------------------------------------------------------

def _cubic(d: Tensor, b: float = 0.0, c: float = 0.5) -> Tensor:
    """Mitchell-Netravali family; (b, c) = (0, 0.5) is Catmull-Rom."""
    d = d.abs()
    d2, d3 = d * d, d * d * d
    near = ((12 - 9 * b - 6 * c) * d3 + (-18 + 12 * b + 6 * c) * d2 + (6 - 2 * b)) / 6
    far = ((-b - 6 * c) * d3 + (6 * b + 30 * c) * d2 + (-12 * b - 48 * c) * d + (8 * b + 24 * c)) / 6
    return torch.where(d < 1, near, torch.where(d < 2, far, torch.zeros_like(d)))


def _mirror(i: int, n: int) -> int:
    """Mirror with the edge sample repeated, as zimg does (so VapourSynth's resizers agree at the borders)."""
    while not 0 <= i < n:
        i = -1 - i if i < 0 else 2 * n - 1 - i
    return i


@lru_cache(maxsize=64)
def _plan(n_in: int, factor: int, offset: float, up: bool, device: torch.device) -> tuple[list[list[float]], Tensor]:
    """(weights per output phase, mirror-padded input indices) of a 1-D resampler between chroma and luma grids.

    Chroma sample j sits at luma coordinate factor * j + offset. Upsampling (chroma -> luma) is Catmull-Rom with
    one set of weights per output phase; downsampling (luma -> chroma) is the area filter: each luma pixel
    weighs by how much of its width falls in the chroma sample's span of `factor` luma pixels.
    """
    if up:
        # Luma pixel factor * j + k reads chroma j + first[k] + t, t = 0..3.
        pos = [(k - offset) / factor for k in range(factor)]
        first = [math.floor(p) - 1 for p in pos]
        lead = min(first)
        kernel = torch.zeros(factor, 3 + max(first) - lead + 1, dtype=torch.float64)
        for k in range(factor):
            taps = torch.arange(first[k], first[k] + 4, dtype=torch.float64)
            kernel[k, first[k] - lead:first[k] - lead + 4] = _cubic(taps - pos[k])
        stride, n_out = 1, n_in
    else:
        # Chroma j reads luma factor * j + lead + t, t = 0..factor + 1.
        lo_edge = offset - factor / 2
        lead = math.floor(lo_edge)
        taps = torch.arange(lead, lead + factor + 2, dtype=torch.float64)
        hi = torch.clamp(taps + 0.5, max=lo_edge + factor)
        lo = torch.clamp(taps - 0.5, min=lo_edge)
        kernel = (hi - lo).clamp(min=0.0)[None, :]
        stride, n_out = factor, n_in // factor
    kernel = kernel / kernel.sum(1, keepdim=True)
    length = (n_out - 1) * stride + kernel.shape[1]
    idx = torch.tensor([_mirror(lead + q, n_in) for q in range(length)], dtype=torch.int64)
    return kernel.tolist(), idx.to(device)


def _resample(x: Tensor, dim: int, factor: int, offset: float, up: bool) -> Tensor:
    """Resample (N, H, W) along dim 1 (rows) or 2 (columns) by `factor`, up or down."""
    if factor == 1:
        return x
    kernel, idx = _plan(x.shape[dim], factor, offset, up, x.device)
    xp = x.index_select(dim, idx)
    n_out = x.shape[dim] if up else x.shape[dim] // factor
    stride = 1 if up else factor
    phases: list[Tensor] = []
    for weights in kernel:
        acc: Tensor | None = None
        for t, wt in enumerate(weights):
            if wt == 0.0:
                continue
            tap = xp.narrow(dim, t, (n_out - 1) * stride + 1)
            tap = tap[:, ::stride] if dim == 1 else tap[:, :, ::stride]
            acc = tap * wt if acc is None else acc.add_(tap, alpha=wt)
        assert acc is not None  # every phase has a non-zero tap
        phases.append(acc)
    if not up:
        return phases[0]
    # Interleave the phases along `dim`: luma pixel factor * j + k comes from phase k.
    n, h, w = x.shape
    y = torch.stack(phases, dim=dim + 1)
    return y.reshape(n, h * factor, w) if dim == 1 else y.reshape(n, h, w * factor)


def _resample_chroma(c: Tensor, fmt: PlaneFormat, up: bool) -> Tensor:
    """Resample (N, h, w) chroma between chroma and luma size honouring the siting."""
    sw, sh = fmt.subsampling
    fw, fh = 1 << sw, 1 << sh
    c = _resample(c, 2, fw, 0.0 if fmt.chroma_left else (fw - 1) / 2, up)
    return _resample(c, 1, fh, (fh - 1) / 2, up)


# --- public conversions --------------------------------------------------------------------------------------

def planes_to_rgb(planes: Sequence[Tensor], fmt: PlaneFormat) -> Tensor:
    """Planes of one frame in `fmt` -> (3, H, W) float32 RGB clamped to [0, 1], on the planes' device.

    Planes are (H, W) tensors of any integer dtype (torch.uint16 included) or float16/32; subsampled chroma is
    (H >> sh, W >> sw) and is upsampled (Catmull-Rom) to luma size honouring the siting. Gray is replicated to
    three channels. Float YUV follows VapourSynth: Y in [0, 1], U/V in [-0.5, 0.5].
    """
    if len(planes) != fmt.num_planes:
        raise ValueError(f"{fmt.family} needs {fmt.num_planes} planes, got {len(planes)}")
    first = planes[0]
    if first.dim() != 2:
        raise ValueError(f"planes must be 2-D, got shape {tuple(first.shape)}")
    h, w = first.shape
    if fmt.family == "gray":
        y = _to_float(first, fmt, chroma=False)
        return y.clamp(0.0, 1.0).unsqueeze(0).expand(3, h, w).contiguous()
    sw, sh = fmt.subsampling
    if h % (1 << sh) or w % (1 << sw):
        raise ValueError(f"luma size {w}x{h} is not divisible by the subsampling {fmt.subsampling}")
    chroma_shape = (h >> sh, w >> sw)
    for p in planes[1:]:
        if tuple(p.shape) != chroma_shape:
            raise ValueError(f"plane of shape {tuple(p.shape)} where {chroma_shape} was expected")
    if fmt.family == "rgb":
        rgb = torch.stack([_to_float(p, fmt, chroma=False) for p in planes])
        return rgb.clamp_(0.0, 1.0)
    y = _to_float(first, fmt, chroma=False)
    c = torch.stack([_to_float(p, fmt, chroma=True) for p in planes[1:]])
    c = _resample_chroma(c, fmt, up=True)
    return _apply(_matrices(fmt.matrix, c.device)[1], torch.cat((y[None], c))).clamp_(0.0, 1.0)


def rgb_to_planes(rgb: Tensor, fmt: PlaneFormat) -> list[Tensor]:
    """(3, H, W) RGB (clamped to [0, 1] first) -> the planes of `fmt`, on the same device.

    Integer planes are rounded and clamped to [0, 2^bits - 1], as uint8 (8 bit) or uint16 (9-16 bit); float
    planes are float32, or float16 for 16-bit float. Chroma is downsampled with the area filter centred on
    each chroma sample's siting. Gray is the luma of `fmt.matrix`.
    """
    if rgb.dim() != 3 or rgb.shape[0] != 3:
        raise ValueError(f"rgb must be (3, H, W), got shape {tuple(rgb.shape)}")
    x = rgb.to(torch.float32).clamp(0.0, 1.0)
    h, w = x.shape[1:]
    if fmt.family == "rgb":
        return [_from_float(x[i], fmt, chroma=False) for i in range(3)]
    if fmt.family == "gray":
        return [_from_float(luma(x, fmt.matrix), fmt, chroma=False)]
    sw, sh = fmt.subsampling
    if h % (1 << sh) or w % (1 << sw):
        raise ValueError(f"size {w}x{h} is not divisible by the subsampling {fmt.subsampling}")
    y, c = _apply(_matrices(fmt.matrix, x.device)[0], x).split((1, 2))
    y, c = y[0], _resample_chroma(c, fmt, up=False)
    return [_from_float(y, fmt, chroma=False), _from_float(c[0], fmt, chroma=True),
            _from_float(c[1], fmt, chroma=True)]
