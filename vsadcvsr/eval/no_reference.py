"""No-reference quality: NIQE (lower is better) and BRISQUE (lower is better), both fully offline.

NIQE follows Mittal, Soundararajan and Bovik (2013) as MATLAB's `niqe` computes it (96x96 blocks, two scales,
antialiased bicubic halving, luma rounded to integers); its pristine-model parameters are `data/niqe_pris_params.npz`,
taken unchanged from basicsr 1.4.2's source package (see `data/PROVENANCE.md`). BRISQUE is OpenCV contrib's
`cv2.quality.QualityBRISQUE` with the LIVE model files of Debian's `opencv-data` package
(/usr/share/opencv4/quality), or the folder named by the environment variable VSADCVSR_BRISQUE_DIR.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..extras import lazy
from .fidelity import rgb_to_y

if TYPE_CHECKING:
    import cv2
    import scipy.ndimage as ndimage
    import scipy.special as special
else:
    cv2 = lazy("cv2", "eval")
    ndimage = lazy("scipy.ndimage", "eval")
    special = lazy("scipy.special", "eval")

NIQE_PARAMS = Path(__file__).resolve().parent / "data" / "niqe_pris_params.npz"
BRISQUE_DIRS = (Path("/usr/share/opencv4/quality"), Path("/usr/share/opencv/quality"))
_BRISQUE_FILES = ("brisque_model_live.yml", "brisque_range_live.yml")


class MetricUnavailable(RuntimeError):
    """A metric whose parameter files are not on this machine."""


# ---- NIQE ---------------------------------------------------------------------------------------------------

_GAMMAS = np.arange(0.2, 10.001, 0.001)


@functools.cache
def _r_gam() -> np.ndarray:
    gamma = special.gamma
    return gamma(2.0 / _GAMMAS) ** 2 / (gamma(1.0 / _GAMMAS) * gamma(3.0 / _GAMMAS))


def _aggd(x: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching: (shape, left scale, right scale)."""
    x = x.ravel()
    left = np.sqrt(np.mean(x[x < 0] ** 2)) if np.any(x < 0) else 0.0
    right = np.sqrt(np.mean(x[x > 0] ** 2)) if np.any(x > 0) else 0.0
    g = left / right if right > 0 else np.inf
    rhat = np.mean(np.abs(x)) ** 2 / np.mean(x**2)
    rnorm = rhat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    alpha = float(_GAMMAS[np.argmin((_r_gam() - rnorm) ** 2)])
    k = np.sqrt(special.gamma(1.0 / alpha) / special.gamma(3.0 / alpha))
    return alpha, float(left * k), float(right * k)


def _block_features(block: np.ndarray) -> list[float]:
    alpha, bl, br = _aggd(block)
    feats = [alpha, (bl + br) / 2.0]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, bl, br = _aggd(block * np.roll(block, shift, axis=(0, 1)))
        mean = (br - bl) * special.gamma(2.0 / alpha) / special.gamma(1.0 / alpha)
        feats += [alpha, float(mean), bl, br]
    return feats


def _cubic(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    return ((1.5 * a**3 - 2.5 * a**2 + 1) * (a <= 1)
            + (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2) * ((a > 1) & (a <= 2)))


def _matlab_weights(n_in: int, n_out: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    width = 4.0 / scale if scale < 1 else 4.0
    u = np.arange(1, n_out + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    idx = left[:, None] + np.arange(int(np.ceil(width)) + 2)[None, :]
    w = scale * _cubic(scale * (u[:, None] - idx)) if scale < 1 else _cubic(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    keep = np.any(w != 0, axis=0)
    w, idx = w[:, keep], idx[:, keep].astype(np.int64) - 1
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in)[::-1]])
    return w, mirror[np.mod(idx, 2 * n_in)]


def matlab_halve(img: np.ndarray) -> np.ndarray:
    """MATLAB `imresize(img, 0.5)` of a 2-D float image: bicubic with antialiasing, symmetric borders."""
    h, w = img.shape
    wh, ih = _matlab_weights(h, int(np.ceil(h * 0.5)), 0.5)
    out = np.einsum("ok,okw->ow", wh, img[ih])
    ww, iw = _matlab_weights(w, int(np.ceil(w * 0.5)), 0.5)
    return np.einsum("ok,hok->ho", ww, out[:, iw])


@functools.lru_cache(maxsize=1)
def _niqe_params() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not NIQE_PARAMS.is_file():
        raise MetricUnavailable(f"NIQE parameters not found: {NIQE_PARAMS}")
    d = np.load(NIQE_PARAMS)
    return d["mu_pris_param"], d["cov_pris_param"], d["gaussian_window"]


def niqe(frame: np.ndarray, block: int = 96) -> float:
    """NIQE of one RGB frame (uint8, or float in [0, 1]), on rounded BT.601 luma; needs at least 96x96 pixels."""
    mu_p, cov_p, window = _niqe_params()
    img = np.round(rgb_to_y(frame))
    nh, nw = img.shape[0] // block, img.shape[1] // block
    if nh == 0 or nw == 0:
        raise ValueError(f"niqe: a frame of {img.shape[1]}x{img.shape[0]} is smaller than one {block}x{block} block")
    img = img[: nh * block, : nw * block]
    scales = []
    for s in (1, 2):
        mu = ndimage.convolve(img, window, mode="nearest")
        sigma = np.sqrt(np.abs(ndimage.convolve(img * img, window, mode="nearest") - mu * mu))
        norm = (img - mu) / (sigma + 1.0)
        b = block // s
        scales.append([_block_features(norm[i * b:(i + 1) * b, j * b:(j + 1) * b])
                       for j in range(nw) for i in range(nh)])
        if s == 1:
            img = matlab_halve(img / 255.0) * 255.0
    feats = np.concatenate([np.asarray(f) for f in scales], axis=1)
    mu_d = np.nanmean(feats, axis=0)
    clean = feats[~np.isnan(feats).any(axis=1)]
    cov_d = np.cov(clean, rowvar=False) if len(clean) > 1 else np.zeros_like(cov_p)
    diff = mu_p.ravel() - mu_d
    return float(np.sqrt(diff @ np.linalg.pinv((cov_p + cov_d) / 2.0) @ diff))


# ---- BRISQUE ------------------------------------------------------------------------------------------------

def brisque_files() -> tuple[Path, Path]:
    """The BRISQUE model and range files; MetricUnavailable if neither VSADCVSR_BRISQUE_DIR nor opencv-data has them."""
    env = os.environ.get("VSADCVSR_BRISQUE_DIR")
    for d in ([Path(env)] if env else []) + list(BRISQUE_DIRS):
        model, rng = d / _BRISQUE_FILES[0], d / _BRISQUE_FILES[1]
        if model.is_file() and rng.is_file():
            return model, rng
    raise MetricUnavailable("BRISQUE model files not found: install Debian's opencv-data "
                            "(/usr/share/opencv4/quality) or set VSADCVSR_BRISQUE_DIR")


@functools.lru_cache(maxsize=1)
def _brisque() -> "cv2.quality.QualityBRISQUE":
    model, rng = brisque_files()
    return cv2.quality.QualityBRISQUE_create(str(model), str(rng))  # type: ignore[attr-defined]


def brisque(frame: np.ndarray) -> float:
    """BRISQUE of one RGB frame (uint8, or float in [0, 1]); about 0 (pristine) to 100 (poor)."""
    f = frame if frame.dtype == np.uint8 else np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)
    return float(_brisque().compute(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))[0])
