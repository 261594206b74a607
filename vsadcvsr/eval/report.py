"""Results out: a Markdown table, a CSV (per clip and mean), labelled side-by-side crops, a quality-vs-speed plot;
`write_results` writes them all into one folder."""
from __future__ import annotations

import csv
import math
import os
import platform
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..extras import lazy, require
from .runner import METRICS, NO_REFERENCE, Evaluation, Score
from .warping import FLOW_ESTIMATOR

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2", "eval")

REFERENCE = "reference (HR)"


def _fmt(key: str, v: float) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:.4f}" if key in ("ssim", "x265_bpp") else f"{v:.3f}" if key == "s_per_frame" else f"{v:.2f}"


def _header(ev: Evaluation) -> list[str]:
    cols = ["method"]
    for k in ev.metrics:
        title, higher = METRICS[k]
        cols.append(f"{title} {'↑' if higher else '↓'}")
    return cols + ["s/frame"]


def _row(ev: Evaluation, s: Score) -> list[str]:
    return [s.method] + [_fmt(k, s.values.get(k, math.nan)) for k in ev.metrics] + [_fmt("s_per_frame",
                                                                                       s.seconds_per_frame)]


def _ref_row(ev: Evaluation, values: dict[str, float]) -> list[str]:
    return [REFERENCE] + [_fmt(k, values.get(k, math.nan)) if k in NO_REFERENCE else "—" for k in ev.metrics] + ["—"]


def _table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def markdown(ev: Evaluation, per_clip: bool = True) -> str:
    """The mean table over clips, then one table per clip, then the notes (skipped methods, metrics not computed)."""
    parts = [f"Mean over {len(ev.clips)} clip(s):", "",
             _table([_header(ev), _ref_row(ev, ev.reference_mean())] + [_row(ev, ev.mean(m)) for m in ev.methods()])]
    if per_clip:
        for name, clip in ev.clips.items():
            rows = [_header(ev), _ref_row(ev, ev.reference[name])]
            rows += [_row(ev, s) for s in ev.scores if s.clip == name]
            lr, hr = clip.lr.shape, clip.hr.shape
            parts += ["", f"{name}: {hr[0]} frames, {lr[2]}x{lr[1]} → {hr[2]}x{hr[1]}, LR: {clip.degradation}", "",
                      _table(rows)]
    if ev.notes:
        parts += ["", "Notes:", ""] + [f"- {n}" for n in ev.notes]
    return "\n".join(parts) + "\n"


def write_csv(ev: Evaluation, path: str | Path) -> None:
    """One row per (clip, method), then one `mean` row per method; the reference's own values use method
    `reference (HR)`."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["clip", "method", "frames", *ev.metrics, "s_per_frame"])
        for name in ev.clips:
            w.writerow([name, REFERENCE, len(ev.clips[name].hr)]
                       + [_csv(ev.reference[name].get(k, math.nan)) for k in ev.metrics] + [""])
        for s in ev.scores + [ev.mean(m) for m in ev.methods()]:
            w.writerow([s.clip, s.method, s.frames] + [_csv(s.values.get(k, math.nan)) for k in ev.metrics]
                       + [_csv(s.seconds_per_frame)])


def _csv(v: float) -> str:
    return "" if not math.isfinite(v) else f"{v:.6g}"


def detail_box(frame: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """The size x size window (y, x, h, w) of `frame` with the most gradient energy (the most detail to judge)."""
    h, w = frame.shape[:2]
    size = min(size, h, w)
    g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    e = cv2.Sobel(g, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(g, cv2.CV_32F, 0, 1) ** 2
    s = cv2.boxFilter(e, -1, (size, size), normalize=False, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    s = s[: h - size + 1, : w - size + 1]
    y, x = np.unravel_index(int(np.argmax(s)), s.shape)
    return int(y) // 4 * 4, int(x) // 4 * 4, size, size


def _labelled(tile: np.ndarray, label: str, zoom: int) -> np.ndarray:
    tile = cv2.resize(tile, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    bar = np.full((24, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, label[:40], (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile])


def save_crops(ev: Evaluation, clip: str, path: str | Path, frame: int | None = None, size: int = 96,
               zoom: int = 2, columns: int = 4) -> tuple[int, int, int, int]:
    """PNG of the same region of one frame from the LR input (nearest x4), the reference and every method, each
    labelled; returns the region (y, x, h, w) in output pixels."""
    c = ev.clips[clip]
    t = len(c.hr) // 2 if frame is None else frame
    y, x, h, w = detail_box(c.hr[t], size)
    lr = cv2.resize(c.lr[t][y // 4:(y + h) // 4, x // 4:(x + w) // 4], (w, h), interpolation=cv2.INTER_NEAREST)
    tiles = [_labelled(lr, "LR input (nearest)", zoom), _labelled(c.hr[t][y:y + h, x:x + w], REFERENCE, zoom)]
    tiles += [_labelled(out[t][y:y + h, x:x + w], m, zoom) for m, out in ev.outputs[clip].items()]
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % columns)
    grid = np.concatenate([np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)])
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return y, x, h, w


def scatter(ev: Evaluation, path: str | Path, metrics: Sequence[str] | None = None, title: str = "") -> None:
    """Quality against seconds per frame (log scale), one panel per metric (default: every metric evaluated),
    mean over clips; dashed: reference. Writes nothing when no metric was evaluated."""
    matplotlib = require("matplotlib", "eval")

    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "eval")

    metrics = [m for m in (metrics or ev.metrics) if m in ev.metrics]
    if not metrics:
        return
    cols = min(2, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    ref = ev.reference_mean()
    for ax, key in zip(axes.flat, metrics):
        label, higher = METRICS[key]
        for m in ev.methods():
            s = ev.mean(m)
            v = s.values.get(key, math.nan)
            if math.isfinite(v) and math.isfinite(s.seconds_per_frame) and s.seconds_per_frame > 0:
                ax.scatter(s.seconds_per_frame, v)
                ax.annotate(m, (s.seconds_per_frame, v), fontsize=7, xytext=(3, 3), textcoords="offset points")
        if key in ref and math.isfinite(ref[key]):
            ax.axhline(ref[key], ls="--", c="gray", lw=1)
            ax.annotate(REFERENCE, (0.02, ref[key]), xycoords=("axes fraction", "data"), fontsize=7, color="gray")
        ax.set_xscale("log")
        ax.set_xlabel("seconds per frame (CPU)")
        ax.set_ylabel(f"{label} {'(higher is better)' if higher else '(lower is better)'}")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(ev: Evaluation, out: str | Path, command: str, crop_size: int = 96) -> str:
    """Writes results.csv, crops_<clip>.png (`crop_size` output pixels), quality_vs_speed.png and results.md
    (`command`, the machine and the Markdown tables) into the folder `out`, made if needed; returns results.md's
    text."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(ev, out / "results.csv")
    for name in ev.clips:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")
        save_crops(ev, name, out / f"crops_{safe}.png", size=crop_size)
    degr = ", ".join(sorted({c.degradation for c in ev.clips.values()}))
    scatter(ev, out / "quality_vs_speed.png",
            title=f"{len(ev.clips)} clip(s), LR: {degr}; E*warp flow: {FLOW_ESTIMATOR}")
    header = (f"Command: `{command}`\n\nMachine: {platform.machine()}, {os.cpu_count()} CPU cores, "
              f"{platform.python_implementation()} {platform.python_version()}; LR: {degr}; "
              f"E*warp flow: {FLOW_ESTIMATOR}, on each clip's own frames.\n\n")
    text = header + markdown(ev)
    (out / "results.md").write_text(text)
    return text
