"""Synthetic real-world degradation of HR clips: RealBasicVSR's second-order pipeline plus a real x264 encode.

One set of parameters is drawn per clip from `seed` and applied to every frame (blur kernel, resize factors and
modes, noise levels, JPEG qualities, CRF); only the noise *realisation* differs from frame to frame, as it would
in a camera. The same (clip, seed, preset) always gives the same output.
"""
from __future__ import annotations

import logging
import math
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from .extras import lazy

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2", "train")

log = logging.getLogger(__name__)

_RESIZE_MODES = {"area": "INTER_AREA", "bilinear": "INTER_LINEAR", "bicubic": "INTER_CUBIC"}  # OpenCV flag names


@dataclass(frozen=True)
class BlurRange:
    """Random blur kernels: Gaussian (iso/aniso) and generalized Gaussian, Real-ESRGAN's families."""

    prob: float
    sizes: tuple[int, ...]
    kinds: tuple[str, ...]
    kind_probs: tuple[float, ...]
    sigma: tuple[float, float]
    beta: tuple[float, float] = (0.5, 4.0)


@dataclass(frozen=True)
class RoundRange:
    """One round of blur → resize → noise → JPEG."""

    blur: BlurRange
    resize_probs: tuple[float, float, float]  # up, down, keep
    resize_scale: tuple[float, float]
    gaussian_prob: float
    gaussian_sigma: tuple[float, float]  # on the 0-255 scale
    gray_prob: float
    poisson_scale: tuple[float, float]
    jpeg_quality: tuple[int, int]
    jpeg_prob: float = 1.0


@dataclass(frozen=True)
class Preset:
    rounds: tuple[RoundRange, ...]
    final_modes: tuple[str, ...] = ("area", "bilinear", "bicubic")
    crf: tuple[int, int] = (20, 35)
    x264_presets: tuple[str, ...] = ("veryfast", "medium", "slow")
    video_prob: float = 1.0
    extra: dict[str, float] = field(default_factory=dict)


_ALL_KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso")

PRESETS: dict[str, Preset] = {
    # RealBasicVSR / Real-ESRGAN ranges (first and second order), with x264 (CRF) as the video codec.
    "standard": Preset(
        rounds=(
            RoundRange(
                blur=BlurRange(1.0, (7, 9, 11, 13, 15, 17, 19, 21), _ALL_KINDS, (0.45, 0.25, 0.15, 0.15), (0.2, 3.0)),
                resize_probs=(0.2, 0.7, 0.1),
                resize_scale=(0.15, 1.5),
                gaussian_prob=0.5,
                gaussian_sigma=(1.0, 30.0),
                gray_prob=0.4,
                poisson_scale=(0.05, 3.0),
                jpeg_quality=(30, 95),
            ),
            RoundRange(
                blur=BlurRange(0.8, (7, 9, 11, 13, 15, 17, 19, 21), _ALL_KINDS, (0.45, 0.25, 0.15, 0.15), (0.2, 1.5)),
                resize_probs=(0.3, 0.4, 0.3),
                resize_scale=(0.3, 1.2),
                gaussian_prob=0.5,
                gaussian_sigma=(1.0, 25.0),
                gray_prob=0.4,
                poisson_scale=(0.05, 2.5),
                jpeg_quality=(30, 95),
            ),
        ),
        crf=(20, 35),
    ),
    # Evaluation: light blur, light noise, mild JPEG and x264; one round, no intermediate resize.
    "mild": Preset(
        rounds=(
            RoundRange(
                blur=BlurRange(1.0, (7, 9, 11), ("iso",), (1.0,), (1.0, 2.0)),
                resize_probs=(0.0, 0.0, 1.0),
                resize_scale=(1.0, 1.0),
                gaussian_prob=1.0,
                gaussian_sigma=(1.0, 3.0),
                gray_prob=0.0,
                poisson_scale=(0.05, 0.05),
                jpeg_quality=(85, 95),
            ),
        ),
        final_modes=("area",),
        crf=(18, 23),
        x264_presets=("medium",),
    ),
}


# --------------------------------------------------------------------------------------------- kernels


def _gaussian_kernel(size: int, sx: float, sy: float, theta: float, beta: float = 2.0) -> np.ndarray:
    """(Generalized) anisotropic Gaussian kernel, normalised to sum 1; beta = 2 is the plain Gaussian."""
    r = size // 2
    y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * x + s * y, -s * x + c * y
    q = (u / sx) ** 2 + (v / sy) ** 2
    k = np.exp(-0.5 * q ** (beta / 2.0)) if beta != 2.0 else np.exp(-0.5 * q)
    return (k / k.sum()).astype(np.float32)


def _sample_kernel(rng: np.random.Generator, b: BlurRange) -> np.ndarray | None:
    if rng.random() >= b.prob:
        return None
    size = int(rng.choice(b.sizes))
    kind = str(rng.choice(b.kinds, p=np.asarray(b.kind_probs) / sum(b.kind_probs)))
    sx = float(rng.uniform(*b.sigma))
    sy = float(rng.uniform(*b.sigma)) if "aniso" in kind else sx
    theta = float(rng.uniform(0, math.pi)) if "aniso" in kind else 0.0
    beta = float(rng.uniform(*b.beta)) if kind.startswith("generalized") else 2.0
    return _gaussian_kernel(size, sx, sy, theta, beta)


# --------------------------------------------------------------------------------------------- ops


def _blur(frames: list[np.ndarray], k: np.ndarray) -> list[np.ndarray]:
    return [cv2.filter2D(f, -1, k, borderType=cv2.BORDER_REFLECT_101) for f in frames]


def _resize(frames: list[np.ndarray], w: int, h: int, mode: str) -> list[np.ndarray]:
    return [cv2.resize(f, (w, h), interpolation=getattr(cv2, _RESIZE_MODES[mode])) for f in frames]


def _noise(frames: list[np.ndarray], rng: np.random.Generator, r: RoundRange) -> list[np.ndarray]:
    gray = rng.random() < r.gray_prob
    if rng.random() < r.gaussian_prob:
        sigma = float(rng.uniform(*r.gaussian_sigma)) / 255.0
        out = []
        for f in frames:
            n = rng.standard_normal(f.shape[:2] + ((1,) if gray else (3,))).astype(np.float32) * sigma
            out.append(f + n)
        return out
    scale = float(rng.uniform(*r.poisson_scale))
    out = []
    for f in frames:
        img = np.clip(f, 0, 1)
        if gray:
            img = img.mean(axis=2, keepdims=True)
        q = np.rint(img * 255.0)
        # Poisson noise on 8-bit counts (as Real-ESRGAN), then scaled
        n = (rng.poisson(q).astype(np.float32) - q) / 255.0 * scale
        out.append(f + n)
    return out


def _jpeg(frames: list[np.ndarray], quality: int) -> list[np.ndarray]:
    out = []
    for f in frames:
        u8 = np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("degradation: JPEG encoding failed")
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0)  # type: ignore[index]
    return out


def x264_roundtrip(frames: np.ndarray, crf: int, preset: str = "medium", fps: int = 25) -> np.ndarray:
    """Encodes (T, H, W, 3) uint8 RGB with FFmpeg's libx264 (yuv420p, one thread: deterministic) and decodes it."""
    import imageio_ffmpeg

    t, h, w, _ = frames.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    hh, ww = frames.shape[1:3]
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    enc = [exe, "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{ww}x{hh}", "-r", str(fps), "-i", "-",
           "-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)), "-threads", "1", "-pix_fmt", "yuv420p",
           "-f", "h264", "-"]
    bitstream = subprocess.run(enc, input=np.ascontiguousarray(frames).tobytes(), capture_output=True,
                               check=True).stdout
    dec = [exe, "-v", "error", "-threads", "1", "-f", "h264", "-i", "-", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(dec, input=bitstream, capture_output=True, check=True).stdout
    out = np.frombuffer(raw, np.uint8).reshape(-1, hh, ww, 3)
    if out.shape[0] != t:
        raise RuntimeError(f"degradation: x264 round trip returned {out.shape[0]} frames, expected {t}")
    return out[:, :h, :w].copy()


def _as_float(hr: np.ndarray) -> np.ndarray:
    if hr.dtype == np.uint8:
        return hr.astype(np.float32) / 255.0
    return hr.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------- public


def degrade_clip(hr: np.ndarray, scale: int = 4, seed: int = 0, preset: str = "standard") -> np.ndarray:
    """(T, H, W, 3) uint8 or float32 [0,1] HR clip → (T, H/scale, W/scale, 3) float32 [0,1] degraded LR clip.

    The same degradation parameters apply to all frames; the result is a function of (hr, scale, seed, preset).
    """
    if hr.ndim != 4 or hr.shape[-1] != 3:
        raise ValueError(f"degrade_clip: expected (T, H, W, 3), got {hr.shape}")
    if preset not in PRESETS:
        raise ValueError(f"degrade_clip: unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    t, h, w, _ = hr.shape
    if h % scale or w % scale:
        raise ValueError(f"degrade_clip: H and W ({h}x{w}) must be multiples of scale {scale}")
    p = PRESETS[preset]
    rng = np.random.default_rng(seed)
    oh, ow = h // scale, w // scale
    frames = list(_as_float(hr))
    cur_scale = 1.0
    for r in p.rounds:
        k = _sample_kernel(rng, r.blur)
        if k is not None:
            frames = _blur(frames, k)
        kind = int(rng.choice(3, p=np.asarray(r.resize_probs) / sum(r.resize_probs)))
        if kind == 0:
            s = float(rng.uniform(1.0, r.resize_scale[1]))
        elif kind == 1:
            s = float(rng.uniform(r.resize_scale[0], 1.0))
        else:
            s = 1.0
        mode = str(rng.choice(list(_RESIZE_MODES)))
        if s != 1.0:
            cur_scale *= s
            # never below the final LR size / 2 nor above the HR size (keeps tiny clips sensible)
            cur_scale = float(np.clip(cur_scale, 0.5 / scale, 1.0))
            nw, nh = max(2, round(w * cur_scale)), max(2, round(h * cur_scale))
            frames = _resize(frames, nw, nh, mode)
        frames = _noise(frames, rng, r)
        frames = [np.clip(f, 0, 1) for f in frames]
        if rng.random() < r.jpeg_prob:
            frames = _jpeg(frames, int(rng.integers(r.jpeg_quality[0], r.jpeg_quality[1] + 1)))
    mode = str(rng.choice(p.final_modes))
    frames = _resize(frames, ow, oh, mode)
    lr = np.clip(np.stack(frames), 0, 1)
    crf = int(rng.integers(p.crf[0], p.crf[1] + 1))
    x264_preset = str(rng.choice(p.x264_presets))
    if rng.random() < p.video_prob:
        u8 = np.rint(lr * 255.0).astype(np.uint8)
        lr = x264_roundtrip(u8, crf, x264_preset).astype(np.float32) / 255.0
    log.debug("degrade_clip: seed %d preset %s crf %d", seed, preset, crf)
    return lr.astype(np.float32)


def bicubic_down(hr: np.ndarray, scale: int) -> np.ndarray:
    """(T, H, W, 3) or (H, W, 3) uint8/float [0,1] → float32 [0,1] downscaled by `scale` (antialiased bicubic)."""
    x = torch.from_numpy(np.ascontiguousarray(_as_float(hr)))
    single = x.ndim == 3
    if single:
        x = x[None]
    h, w = x.shape[1:3]
    y = F.interpolate(x.permute(0, 3, 1, 2), size=(h // scale, w // scale), mode="bicubic", antialias=True,
                      align_corners=False)
    out = y.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return out[0] if single else out
