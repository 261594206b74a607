"""The precomputed training set: LR clips, HR clips and teacher outputs side by side in one .npz file."""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..degradation import degrade_clip
from ..files import atomic_write
from .data import IMAGE_LICENCES, VIDEO_LICENCES, Material, static_clip, video_clip
from .teachers import KNOWN_TEACHERS, STABILISED, run_teacher, stabilise

log = logging.getLogger(__name__)


def build_dataset(
    path: str | Path,
    material: Material,
    clips: int,
    frames: int = 5,
    lr_size: int = 48,
    seed: int = 0,
    teachers: dict[str, int] | None = None,
    mild_fraction: float = 0.5,
    static_fraction: float = 0.15,
    workers: int = 1,
    teacher_device: str | None = None,
    pan: int = 0,
    lr_from: np.ndarray | None = None,
) -> None:
    """Writes `clips` samples to `path` (.npz): `lr` (N,T,h,w,3), `hr` (N,T,4h,4w,3), `teacher_<name>` uint8.

    `teachers` maps a teacher name to how many of the first clips get its output (the rest are left at zero and
    flagged in `has_<name>`). Sample i uses the degradation seed `seed * 1_000_003 + i`; a `mild_fraction` of the
    clips use the "mild" preset, the rest "standard"; a `static_fraction` are still images repeated over time.
    `workers` > 1 degrades the clips in that many processes (the same result as one). `teacher_device` runs the
    network teachers in torch on that device instead of ncnn on the CPU (`teachers.run_teacher`). `pan` > 0 moves
    each video clip's crop by up to that many whole pixels per frame (`data.video_clip`). `lr_from` (clips, frames,
    lr_size, lr_size, 3) uint8 is taken as the LR clips instead of degrading the HR ones: the LR of an earlier build
    with the same arguments, to rebuild its HR and teachers where its degradation cannot run (no x264).
    """
    teachers = teachers if teachers is not None else {"animevideov3": clips}
    rng = np.random.default_rng(seed)
    hr_size = 4 * lr_size
    lr = np.zeros((clips, frames, lr_size, lr_size, 3), np.uint8)
    hr = np.zeros((clips, frames, hr_size, hr_size, 3), np.uint8)
    out = {f"teacher_{k}": np.zeros_like(hr[:n]) for k, n in teachers.items() if k != "gt"}
    presets = []
    t0 = time.monotonic()
    jobs = []
    for i in range(clips):
        if rng.random() < static_fraction:
            clip = static_clip(material, frames, hr_size, rng)
        else:
            clip = video_clip(material, frames, hr_size, rng, pan=pan)
        preset = "mild" if rng.random() < mild_fraction else "standard"
        presets.append(preset)
        hr[i] = clip
        jobs.append((i, clip, seed * 1_000_003 + i, preset))
    if lr_from is not None and lr_from.shape != lr.shape:
        raise ValueError(f"build_dataset: lr_from has shape {lr_from.shape}, this build's LR is {lr.shape}")
    with _pool(workers if lr_from is None else 1) as pool:
        done = pool(_degrade_job, jobs) if lr_from is None else ((i, lr_from[i]) for i in range(clips))
        for i, lr_i in done:
            lr[i] = lr_i
            # network teachers first: a stabilised one is made from its network teacher's output of this clip
            # where the build has it (the network runs once), as `add_teacher` does
            for k, n in sorted(teachers.items(), key=lambda kn: kn[0] in STABILISED):
                if k == "gt" or i >= n:
                    continue
                base = STABILISED.get(k)
                if base is not None and i < teachers.get(base, 0):
                    out[f"teacher_{k}"][i] = stabilise(out[f"teacher_{base}"][i], hr[i])
                else:
                    out[f"teacher_{k}"][i] = run_teacher(k, lr[i], hr[i], device=teacher_device)
            if (i + 1) % 50 == 0:
                log.info("build_dataset: %d/%d clips, %.1f s", i + 1, clips, time.monotonic() - t0)
    meta = {
        "clips": clips, "frames": frames, "lr_size": lr_size, "seed": seed, "teachers": teachers,
        "mild_fraction": mild_fraction, "static_fraction": static_fraction, "pan": pan,
        "presets": presets, "images": IMAGE_LICENCES, "videos": VIDEO_LICENCES, "shots": material.shot_names,
        "lr": "taken from an earlier build" if lr_from is not None else "degraded here",
    }
    path = Path(path)
    _save_atomic(path, lr=lr, hr=hr, meta=np.array(json.dumps(meta)), **out)
    log.info("build_dataset: wrote %s (%d clips) in %.1f s", path, clips, time.monotonic() - t0)


def add_teacher(path: str | Path, name: str, clips: int, workers: int = 1, device: str | None = None) -> None:
    """Extends `teacher_<name>` of a file written by `build_dataset` to its first `clips` clips, running the teacher
    only on the clips that lack it, in `workers` processes (the same result for any number), or in torch on
    `device` in this process; the file is replaced atomically (a crash leaves the old one). A `STABILISED` teacher
    is made from the file's own outputs of its network teacher, which must cover those clips."""
    if name == "gt" or name not in KNOWN_TEACHERS:
        raise ValueError(f"add_teacher: {name!r} is not a network teacher; known: "
                         f"{', '.join(k for k in KNOWN_TEACHERS if k != 'gt')}")
    path = Path(path)
    with np.load(path) as z:  # closed before the file is replaced
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    lr = arrays["lr"]
    if not 0 < clips <= len(lr):
        raise ValueError(f"add_teacher: clips must be in 1..{len(lr)}, got {clips}")
    key = f"teacher_{name}"
    have = arrays.get(key, np.zeros((0, *arrays["hr"].shape[1:]), np.uint8))
    out = np.zeros((max(clips, len(have)), *arrays["hr"].shape[1:]), np.uint8)
    out[:len(have)] = have
    t0 = time.monotonic()
    todo = range(len(have), clips)
    if name in STABILISED:  # from the stored outputs of its network teacher: no network runs
        base = arrays.get(f"teacher_{STABILISED[name]}")
        if base is None or len(base) < clips or any(not base[i].any() for i in todo):
            raise ValueError(f"add_teacher: {name} is made from {STABILISED[name]}'s outputs: add "
                             f"{STABILISED[name]}={clips} to {path} first")
        for i in todo:
            out[i] = stabilise(base[i], arrays["hr"][i])
    elif device is not None:  # clips in batches of frames through one torch network
        step = 16
        for i in range(todo.start, todo.stop, step):
            j = min(i + step, todo.stop)
            out[i:j] = run_teacher(name, lr[i:j].reshape(-1, *lr.shape[2:]), device=device).reshape(out[i:j].shape)
            log.info("add_teacher: %s %d/%d clips, %.1f s", name, j, clips, time.monotonic() - t0)
    else:
        with _pool(workers) as pool:
            for i, y in pool(_teacher_job, [(name, i, lr[i]) for i in todo]):
                out[i] = y
                if (i + 1) % 50 == 0:
                    log.info("add_teacher: %s %d/%d clips, %.1f s", name, i + 1, clips, time.monotonic() - t0)
    arrays[key] = out
    meta.setdefault("teachers", {})[name] = len(out)
    _save_atomic(path, meta=np.array(json.dumps(meta)), **arrays)
    log.info("add_teacher: wrote %s (%s on %d clips) in %.1f s", path, name, len(out), time.monotonic() - t0)


SECOND_DRAW = 10**9  # added to a clip's degradation seed for its second LR draw (`add_second_draw`)


def add_second_draw(path: str | Path, workers: int = 1, lr_alt: np.ndarray | None = None) -> None:
    """Adds `lr_alt` to a file written by `build_dataset`: each clip's HR degraded again with its own preset and the
    seed `seed * 1_000_003 + i + SECOND_DRAW`, a second LR draw of the same content (other noise, blur and
    compression), for `TrainConfig.invariance_weight`; or the given `lr_alt` (a slim copy's, where the degradation
    cannot run). Replaced atomically; an existing `lr_alt` is replaced."""
    path = Path(path)
    with np.load(path) as z:  # closed before the file is replaced
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    hr, presets = arrays["hr"], meta.get("presets")
    if not presets or len(presets) != len(hr):
        raise ValueError(f"add_second_draw: {path} has no preset per clip (not written by build_dataset)")
    t0 = time.monotonic()
    if lr_alt is not None:
        if lr_alt.shape != arrays["lr"].shape or lr_alt.dtype != np.uint8:
            raise ValueError(f"add_second_draw: lr_alt {lr_alt.shape} {lr_alt.dtype} is not like the set's LR "
                             f"{arrays['lr'].shape} uint8")
    else:
        lr_alt = np.zeros_like(arrays["lr"])
        jobs = [(i, hr[i], meta["seed"] * 1_000_003 + i + SECOND_DRAW, presets[i]) for i in range(len(hr))]
        with _pool(workers) as pool:
            for i, lr_i in pool(_degrade_job, jobs):
                lr_alt[i] = lr_i
    arrays["lr_alt"] = lr_alt
    meta["lr_alt"] = f"second draw: seed * 1_000_003 + i + {SECOND_DRAW}, each clip's preset"
    _save_atomic(path, meta=np.array(json.dumps(meta)), **arrays)
    log.info("add_second_draw: wrote %s (%d clips) in %.1f s", path, len(hr), time.monotonic() - t0)


def _save_atomic(path: Path, **arrays: np.ndarray) -> None:
    """`np.savez` to a temporary file beside `path`, then renamed over it: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, suffix=".part.npz") as tmp:  # np.savez would add ".npz" to another name
        np.savez(tmp, allow_pickle=False, **arrays)  # named, or mypy matches **arrays to it; np.load refuses pickles


def _teacher_job(job: tuple[str, int, np.ndarray]) -> tuple[int, np.ndarray]:
    name, i, lr = job
    return i, run_teacher(name, lr)


def _degrade_job(job: tuple[int, np.ndarray, int, str]) -> tuple[int, np.ndarray]:
    i, clip, seed, preset = job
    return i, np.rint(degrade_clip(clip, 4, seed, preset) * 255.0).astype(np.uint8)


def _one_thread() -> None:
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


@contextmanager
def _pool(workers: int) -> Iterator:
    """`map(fn, jobs)` in order: in this process, or in `workers` fresh (spawned) processes."""
    if workers <= 1:
        yield map
    else:
        with mp.get_context("spawn").Pool(workers, initializer=_one_thread) as p:
            yield lambda fn, jobs: p.imap(fn, jobs, chunksize=4)


@dataclass
class ClipDataset:
    """The arrays of a file written by `build_dataset`, in memory."""

    lr: np.ndarray
    hr: np.ndarray
    teachers: dict[str, np.ndarray]  # name → (n_name, T, H, W, 3); "gt" is `hr`
    meta: dict
    lr_alt: np.ndarray | None = None  # a second LR draw of each clip (`add_second_draw`), where the file has one

    @classmethod
    def load(cls, path: str | Path) -> "ClipDataset":
        z = np.load(path)
        hr = z["hr"]  # each z[...] reads the file again: read HR once, for itself and as the "gt" teacher
        teachers = {"gt": hr}
        teachers.update({k[len("teacher_"):]: z[k] for k in z.files if k.startswith("teacher_")})
        lr_alt = z["lr_alt"] if "lr_alt" in z.files else None
        return cls(z["lr"], hr, teachers, json.loads(str(z["meta"])), lr_alt)

    def __len__(self) -> int:
        return len(self.lr)
