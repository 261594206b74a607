"""Spatial tiles with overlap, blended with raised-cosine weights so no seams show."""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length `tile` covering [0, size); the last tile ends exactly at `size`."""
    if tile >= size:
        return [0]
    step = max(1, tile - overlap)
    n = math.ceil((size - tile) / step) + 1
    return [min(i * step, size - tile) for i in range(n)]


def _ramp(length: int, overlap_lo: int, overlap_hi: int, device: torch.device) -> Tensor:
    w = torch.ones(length, device=device)
    for ov, flip in ((overlap_lo, False), (overlap_hi, True)):
        if ov <= 0:
            continue
        r = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(ov, device=device) + 0.5) / ov)
        if flip:
            w[length - ov :] *= r.flip(0)
        else:
            w[:ov] *= r
    return w


def run_tiled(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    tile: int | tuple[int, int],
    overlap: int,
    scale: int,
    multiple: int = 1,
) -> Tensor:
    """Applies `fn` ((..., h, w) → (..., s·h, s·w)) tile by tile and blends the overlaps.

    `tile` (a size, or (width, height)) and `overlap` are in input pixels; tiles are rounded down to `multiple`.
    Weights fall to ~0 at inner tile edges, so each output pixel is a convex mix of the tiles that cover it.
    """
    h, w = x.shape[-2:]
    tile_w, tile_h = (tile, tile) if isinstance(tile, int) else tile
    tile_w, tile_h = (max(multiple, t // multiple * multiple) for t in (tile_w, tile_h))
    if tile_h >= h and tile_w >= w:
        return fn(x)
    th, tw = min(tile_h, h), min(tile_w, w)
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    out: Tensor | None = None
    weight = torch.zeros(h * scale, w * scale, device=x.device)
    for y0 in ys:
        for x0 in xs:
            y = fn(x[..., y0 : y0 + th, x0 : x0 + tw])
            if out is None:
                out = torch.zeros(*y.shape[:-2], h * scale, w * scale, device=y.device, dtype=torch.float32)
            # Overlap actually shared with the neighbour on each side (0 at the frame border).
            top = (ys[ys.index(y0) - 1] + th - y0) if y0 > 0 else 0
            bottom = (y0 + th - ys[ys.index(y0) + 1]) if y0 != ys[-1] else 0
            left = (xs[xs.index(x0) - 1] + tw - x0) if x0 > 0 else 0
            right = (x0 + tw - xs[xs.index(x0) + 1]) if x0 != xs[-1] else 0
            wy = _ramp(th * scale, top * scale, bottom * scale, y.device)
            wx = _ramp(tw * scale, left * scale, right * scale, y.device)
            wt = wy[:, None] * wx[None, :]
            ys_, xs_ = slice(y0 * scale, (y0 + th) * scale), slice(x0 * scale, (x0 + tw) * scale)
            out[..., ys_, xs_] += y.float() * wt
            weight[ys_, xs_] += wt
    assert out is not None
    return out / weight.clamp_min(1e-8)
