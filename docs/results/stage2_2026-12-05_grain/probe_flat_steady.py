"""How much of each method's fine detail stays from one frame to the next (moves with the content), in flat and in
busy areas of the selection clips, against the reference video's.

  probe_flat_steady.py METHOD...   (run from this folder; PYTHONPATH = the repository; METHODs as crops_grain.py:
                                    ours:..., grain:SIGMA[:BLUR], noise:FILE:SCALE; and fresh:SIGMA, the default
                                    plus grain drawn anew every frame)

Per clip and frame pair (t, t+1): the luma high pass of each output (frame less its 5x5 Gaussian blur, sigma 1.5),
frame t+1's warped onto t along one DIS flow for every method (FLOW=hr: the reference's, which favours the
reference, whose own detail it was fitted to; FLOW=lr, the default: the bicubic upscale of the LR input's, fitted to
no method's detail; pixels failing E*warp's occlusion checks left out), and the correlation of the two over the
flat half of the 8x8 blocks (as ../stage2_2026-12-05_degrid/flat_detail.py: where the bicubic LR varies least) and
over the busy half; medians over pairs. 1: the detail moves with the content; 0: it is fresh every frame (sensor
noise, flicker). Bilinear warping softens a pixel-sized pattern, so steady white grain scores below 1: compare the
rows with each other."""
import os
import sys

import cv2
import numpy as np
from probe_grain import method_of

from vsadcvsr.eval.selection import selection_clips
from vsadcvsr.flow import dis_flow, occlusion_mask, warp


def high_pass(frames: np.ndarray) -> np.ndarray:
    y = frames[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return y - np.stack([cv2.GaussianBlur(f, (5, 5), 1.5) for f in y])


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-12))


specs = sys.argv[1:]
built = [(s, method_of(s)) for s in specs]
rows: dict[str, list[tuple[float, float]]] = {s: [] for s in ["reference", *specs]}
for clip in selection_clips(6):
    t, h, w = clip.hr.shape[:3]
    up = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC) for f in clip.lr])
    y = up.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    hb, wb = h // 8 * 8, w // 8 * 8
    blocks = y[:, :hb, :wb].reshape(t, hb // 8, 8, wb // 8, 8)
    var = blocks.var(axis=(2, 4))
    flat = (var <= np.median(var, axis=(1, 2), keepdims=True)).repeat(8, 1).repeat(8, 2)
    outs = {"reference": clip.hr}
    for s, m in built:
        if hasattr(m, "load"):
            m.load()
        outs[s] = m.upscale(clip.lr)
    src = clip.hr if os.environ.get("FLOW", "lr") == "hr" else up
    flows = [(dis_flow(src[i], src[i + 1]), dis_flow(src[i + 1], src[i])) for i in range(t - 1)]
    for s, out in outs.items():
        hp = high_pass(out)[:, :hb, :wb]
        for i, (fw, bw) in enumerate(flows):
            keep = ~occlusion_mask(fw, bw)[:hb, :wb]
            moved = warp(np.ascontiguousarray(high_pass(out[i + 1:i + 2])[0][..., None]), fw)[:hb, :wb, 0]
            rows[s].append((corr(hp[i][keep & flat[i]], moved[keep & flat[i]]),
                            corr(hp[i][keep & ~flat[i]], moved[keep & ~flat[i]])))
for s, r in rows.items():
    a = np.array(r)
    print(f"{s}: flat {np.median(a[:, 0]):.2f}, busy {np.median(a[:, 1]):.2f} ({len(a)} pairs)")
