"""How much fine detail each method puts in flat areas, against the reference video, on the selection clips.

  flat_detail.py METHOD...   (run from a folder where the METHODs' paths resolve, PYTHONPATH = the repository)

Per selection clip and frame: luma high pass (the frame less its 5x5 Gaussian blur, sigma 1.5); "flat" = the half
of the 8x8 HR blocks where the bicubic upscale of the LR input varies least (the same places for every method);
the mean |high pass| over flat and over busy blocks, and the ratio of each to the reference video's, medians over
clips. A screen door counts as detail here too: read it beside the grid score. "from content": the correlation, over
the flat blocks, of a method's high pass on the clip's LR and on a second LR of the same frames with another
degradation seed (1): what the method makes of the content, not of that draw's noise (the reference: 1).
"""
import sys
import numpy as np, cv2
from vsadcvsr.eval.selection import selection_clips
from vsadcvsr.eval.methods import build_method
from vsadcvsr.eval.degrade import make_lr


def luma(v: np.ndarray) -> np.ndarray:
    return v[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def block_mean(a: np.ndarray, b: int = 8) -> np.ndarray:
    h, w = (a.shape[-2] // b) * b, (a.shape[-1] // b) * b
    return a[..., :h, :w].reshape(*a.shape[:-2], h // b, b, w // b, b).mean((-3, -1))


def high_pass(frames: np.ndarray) -> np.ndarray:
    y = luma(frames)
    return y - np.stack([cv2.GaussianBlur(f, (5, 5), 1.5) for f in y])


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-12))


rows: dict[str, list[tuple[float, float, float]]] = {}
methods = ["reference"] + sys.argv[1:]
for clip in selection_clips(6):
    t, h, w = clip.hr.shape[:3]
    up = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC) for f in clip.lr])
    y = luma(up)
    var = block_mean(y * y) - block_mean(y) ** 2  # per 8x8 block, per frame
    flat = var <= np.median(var, axis=(-2, -1), keepdims=True)
    hb, wb = flat.shape[-2] * 8, flat.shape[-1] * 8
    flat_px = flat.repeat(8, -2).repeat(8, -1)
    lr2 = make_lr(clip.hr, "mild", 4, 1)[0]
    for m in methods:
        if m == "reference":
            out = out2 = clip.hr
        else:
            meth = build_method(m)
            if hasattr(meth, "load"):
                meth.load()
            out, out2 = meth.upscale(clip.lr), meth.upscale(lr2)
        hp, hp2 = (high_pass(o)[:, :hb, :wb] for o in (out, out2))
        e = block_mean(np.abs(hp))
        rows.setdefault(m, []).append((float(e[flat].mean()), float(e[~flat].mean()),
                                       corr(hp[flat_px], hp2[flat_px])))
ref = np.array(rows["reference"])
for m in methods:
    a = np.array(rows[m])
    print(f"{m}: flat {np.median(a[:, 0]):.3f} ({np.median(a[:, 0] / ref[:, 0]):.2f} x reference), "
          f"busy {np.median(a[:, 1]):.3f} ({np.median(a[:, 1] / ref[:, 1]):.2f} x reference), "
          f"flat detail from content {np.median(a[:, 2]):.2f}")
