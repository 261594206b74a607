"""Dense optical flow and warping with OpenCV (DIS, preset medium), shared by the E*warp metric (`eval.warping`),
the training teachers that follow the HR clip's motion (`train.teachers.stabilise`) and the noise input that moves
with the content (`carry_noise`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .extras import lazy

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2", "eval")


def gray8(frame: np.ndarray) -> np.ndarray:
    """8-bit luma (OpenCV's RGB to grey) of an RGB frame, uint8 or float in [0, 1]."""
    f = frame if frame.dtype == np.uint8 else np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY)


def dis_flow(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Flow (H, W, 2) from RGB frame `src` to `dst`: src(x) ≈ dst(x + flow(x)). DIS, preset medium."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
    return dis.calc(gray8(src), gray8(dst), None)


def warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Samples `img` (H, W, C) float32 at x + flow(x), bilinear, with replicated borders."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(img.shape)


def occlusion_mask(fw: np.ndarray, bw: np.ndarray) -> np.ndarray:
    """True where the forward-backward check fails, |fw + bw(x + fw)|² > 0.01 (|fw|² + |bw(x + fw)|²) + 0.5, or on a
    motion boundary of `fw`, |∇fw|² > 0.01 |fw|² + 0.002 (E*warp's occlusion rule, `eval.warping`)."""
    bw_w = warp(np.ascontiguousarray(bw, dtype=np.float32), fw)
    mag = lambda v: np.sum(v * v, axis=-1)  # noqa: E731 - squared magnitude, kept next to its use
    fb = mag(fw + bw_w) > 0.01 * (mag(fw) + mag(bw_w)) + 0.5
    du = np.zeros_like(fw)
    dv = np.zeros_like(fw)
    du[:, :-1] = fw[:, 1:] - fw[:, :-1]
    dv[:-1, :] = fw[1:, :] - fw[:-1, :]
    boundary = mag(du) + mag(dv) > 0.01 * mag(fw) + 0.002
    return fb | boundary


def carry_noise(frames: np.ndarray, rng: np.random.Generator, layers: int = 1) -> np.ndarray:
    """A unit Gaussian noise field (T, layers, H, W) float32 that moves with the content of `frames` (T, H, W, 3):
    frame 0's is fresh; each later frame's is the previous one sampled (nearest, so it keeps its variance) along
    the DIS flow to it, and fresh where that flow fails the occlusion checks (`occlusion_mask`)."""
    t, h, w = frames.shape[:3]
    field = rng.standard_normal((h, w, layers), dtype=np.float32)
    out = [field]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    for i in range(1, t):
        fw, bw = dis_flow(frames[i], frames[i - 1]), dis_flow(frames[i - 1], frames[i])
        moved = cv2.remap(field, gx + fw[..., 0], gy + fw[..., 1], cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_REFLECT).reshape(h, w, layers)
        fresh = rng.standard_normal((h, w, layers), dtype=np.float32)
        field = np.where(occlusion_mask(fw, bw)[..., None], fresh, moved)
        out.append(field)
    return np.ascontiguousarray(np.stack(out).transpose(0, 3, 1, 2))
