"""The evaluation protocol: per clip, make or read the LR input, run every method, score every frame; average
per clip, then over clips (DOVE / AdcVSR: per frame, averaged per video, then over videos)."""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import fidelity, grid, no_reference, rate, vmaf, warping
from .degrade import to_uint8
from .methods import Method, MethodUnavailable

log = logging.getLogger(__name__)

#: Metric key → (column title, True if higher is better).
METRICS: dict[str, tuple[str, bool]] = {
    "psnr": ("PSNR (RGB, dB)", True),
    "psnr_y": ("PSNR-Y (dB)", True),
    "ssim": ("SSIM (Y)", True),
    "vmaf_neg": ("VMAF-NEG", True),
    "niqe": ("NIQE", False),
    "brisque": ("BRISQUE", False),
    "ewarp": ("E*warp (x1e-3, DIS)", False),
    "grid": ("grid (x4 sub-pixel)", False),
    "x265_bpp": (f"x265 CRF {rate.CRF} (bits/px)", False),
}
#: Metrics of the paper that need pretrained backbones this machine cannot download.
NOT_COMPUTED: dict[str, str] = {
    "LPIPS": "needs AlexNet/VGG ImageNet weights plus the LPIPS linear layers (downloaded)",
    "DISTS": "needs VGG16 ImageNet weights plus DISTS' fitted weights (downloaded)",
    "MUSIQ": "needs the KonIQ-trained MUSIQ checkpoint (downloaded)",
    "MANIQA": "needs the PIPAL-trained MANIQA checkpoint and a ViT backbone (downloaded)",
    "CLIP-IQA": "needs CLIP ViT weights (downloaded)",
    "DOVER": "needs DOVER's aesthetic and technical backbones (downloaded)",
}
#: Metrics that need no reference clip.
NO_REFERENCE = ("niqe", "brisque", "ewarp", "grid", "x265_bpp")


@dataclass(frozen=True)
class Clip:
    """One evaluated clip: HR reference and LR input, (T, H, W, 3) and (T, H/4, W/4, 3) uint8 RGB; `cuts` lists
    the frames that start a new shot (E*warp skips the pairs across them)."""

    name: str
    hr: np.ndarray
    lr: np.ndarray
    degradation: str
    cuts: tuple[int, ...] = ()


@dataclass
class Score:
    """Scores of one method on one clip (per-frame means; E*warp over the clip's pairs) and its speed."""

    clip: str
    method: str
    frames: int
    values: dict[str, float]
    seconds_per_frame: float


@dataclass
class Evaluation:
    """All scores, the reference's own no-reference values (the floor), the kept outputs and the notes."""

    scores: list[Score] = field(default_factory=list)
    reference: dict[str, dict[str, float]] = field(default_factory=dict)
    outputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # clip → method → frames
    clips: dict[str, Clip] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    metrics: tuple[str, ...] = tuple(METRICS)

    def methods(self) -> list[str]:
        return list(dict.fromkeys(s.method for s in self.scores))

    def mean(self, method: str) -> Score:
        """The method's scores averaged over clips (each clip weighs the same)."""
        rows = [s for s in self.scores if s.method == method]
        values = {k: _nanmean([r.values.get(k, math.nan) for r in rows]) for k in self.metrics}
        return Score("mean", method, sum(r.frames for r in rows), values,
                     _nanmean([r.seconds_per_frame for r in rows]))

    def reference_mean(self) -> dict[str, float]:
        return {k: _nanmean([v.get(k, math.nan) for v in self.reference.values()]) for k in NO_REFERENCE}


def _nanmean(xs: Sequence[float]) -> float:
    a = np.asarray(xs, dtype=np.float64)
    return float(np.nanmean(a)) if np.isfinite(a).any() else math.nan


def _safe(name: str, fn: Callable[[], float], notes: list[str]) -> float:
    try:
        return fn()
    except (no_reference.MetricUnavailable, vmaf.VmafUnavailable, rate.RateUnavailable) as e:
        note = f"{name} not computed: {e}"
        if note not in notes:
            notes.append(note)
            log.warning("%s", note)
        return math.nan


def score_clip(ref: np.ndarray, out: np.ndarray, metrics: Sequence[str], notes: list[str],
               cuts: Sequence[int] = ()) -> dict[str, float]:
    """Per-frame metrics averaged over the clip, and E*warp of `out` (flow from `out` itself) within shots."""
    if ref.shape != out.shape:
        raise ValueError(f"score_clip: output {out.shape} does not match the reference {ref.shape}")
    v: dict[str, float] = {}
    if "psnr" in metrics:
        v["psnr"] = float(np.mean([fidelity.psnr_rgb(r, o) for r, o in zip(ref, out)]))
    if "psnr_y" in metrics:
        v["psnr_y"] = float(np.mean([fidelity.psnr_y(r, o) for r, o in zip(ref, out)]))
    if "ssim" in metrics:
        v["ssim"] = float(np.mean([fidelity.ssim_y(r, o) for r, o in zip(ref, out)]))
    if "vmaf_neg" in metrics:
        v["vmaf_neg"] = _safe("VMAF-NEG", lambda: float(np.mean(vmaf.vmaf_neg(ref, out))), notes)
    v.update(score_no_reference(out, metrics, notes, cuts))
    return v


def score_no_reference(clip: np.ndarray, metrics: Sequence[str], notes: list[str],
                       cuts: Sequence[int] = ()) -> dict[str, float]:
    """NIQE, BRISQUE, the sub-pixel grid score (per-frame means), E*warp (pairs across `cuts` skipped) and the
    x265 size of one clip."""
    v: dict[str, float] = {}
    if "niqe" in metrics:
        v["niqe"] = _safe("NIQE", lambda: float(np.mean([no_reference.niqe(f) for f in clip])), notes)
    if "brisque" in metrics:
        v["brisque"] = _safe("BRISQUE", lambda: float(np.mean([no_reference.brisque(f) for f in clip])), notes)
    if "ewarp" in metrics:
        v["ewarp"] = warping.warping_error(clip, cuts=cuts).value
    if "grid" in metrics:
        v["grid"] = grid.clip_grid_score(clip)
    if "x265_bpp" in metrics:
        v["x265_bpp"] = _safe("x265 size", lambda: rate.x265_bits_per_pixel(to_uint8(clip)), notes)
    return v


def shared_names(methods: Sequence[Method]) -> list[str]:
    """Names that more than one of `methods` carries (scores are kept by name, so those would be averaged)."""
    names = [m.name for m in methods]
    return sorted({n for n in names if names.count(n) > 1})


def evaluate(
    clips: Sequence[Clip],
    methods: Sequence[Method],
    metrics: Sequence[str] = tuple(METRICS),
    keep_outputs: bool = True,
) -> Evaluation:
    """Runs every method on every clip and scores it; a method that turns out unavailable is skipped with a note."""
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"evaluate: unknown metrics {sorted(unknown)}; known: {', '.join(METRICS)}")
    twice = shared_names(methods)
    if twice:
        raise ValueError(f"evaluate: two methods are both named {', '.join(map(repr, twice))} (e.g. checkpoints "
                         "with the same file name in different folders); give them different names")
    ev = Evaluation(metrics=tuple(m for m in METRICS if m in metrics))
    ev.notes += [f"{k} not computed: {why}" for k, why in NOT_COMPUTED.items()]
    skipped: set[str] = set()
    for clip in clips:
        ev.clips[clip.name] = clip
        ev.reference[clip.name] = score_no_reference(clip.hr, ev.metrics, ev.notes, clip.cuts)
        ev.outputs[clip.name] = {}
        for m in methods:
            if m.name in skipped:
                continue
            try:
                if hasattr(m, "load"):
                    m.load()  # weights are read once, outside the timing
                # One untimed run on the first frames (a whole window for ours): first calls build kernels.
                m.upscale(clip.lr[: getattr(m, "warmup_frames", 1)])
                t0 = time.perf_counter()
                out = m.upscale(clip.lr)
                spf = (time.perf_counter() - t0) / len(clip.lr)
            except MethodUnavailable as e:
                skipped.add(m.name)
                ev.notes.append(f"{m.name} skipped: {e}")
                log.warning("%s skipped: %s", m.name, e)
                continue
            log.info("%s on %s: %.3f s/frame", m.name, clip.name, spf)
            values = score_clip(clip.hr, out, ev.metrics, ev.notes, clip.cuts)
            ev.scores.append(Score(clip.name, m.name, len(clip.lr), values, spf))
            if keep_outputs:
                ev.outputs[clip.name][m.name] = out
    return ev
