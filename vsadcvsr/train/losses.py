"""Losses of the two training stages.

Generator: `0.1 * L_pixel + 1.0 * L_feature` with
`L_pixel = |x_s - x_t|_1 + P(x_s, x_t) [+ w_adv * softplus(-D_pixel(x_s))]` and
`L_feature = |f_s - f_t|_1 [+ w_adv * softplus(-D_feature(f_s))]`.
DISTS needs downloaded VGG weights, so P is a weight-free substitute: `(1 - SSIM(Y)) + |Sobel(x_s) - Sobel(x_t)|_1`
("SSIM+Sobel"). Images are in [-1, 1], shaped (..., 3, H, W).
An optional term outside the paper, `local_contrast_loss`, compares local standard deviations rather than pixels: L1
regression of detail the student cannot place exactly averages it away, while matching its local energy does not.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: Discriminator labels (detail, consistency) per sample type: -1 fake, +1 real, 0 ignored (paper, Sec. 2).
SAMPLE_LABELS: dict[str, tuple[int, int]] = {
    "student": (-1, -1),
    "real_video": (0, 1),
    "shuffled_video": (0, -1),
    "static_image": (1, 1),
    "unrelated_images": (1, -1),
}

Labels = dict[str, tuple[int, int]]


DETAIL_REAL = ("images", "video", "video-only", "teacher")


def sample_labels(detail_real: str = "images", grainy: bool = False) -> Labels:
    """What the detail head learns as real: "images", the still photos (`SAMPLE_LABELS`, the paper); "video", real
    video too (+1, +1); "video-only", real video alone (the photos then train the consistency head only);
    "teacher", a teacher's output of the student's own clip alone (sample type "teacher_video", +1 for the detail
    head, left out of the consistency head, where real video and the photos keep the paper's labels). With video or
    a teacher, the detail head compares the student with texture of the same content (a departure from the paper;
    issue #17). `grainy`: the student's output plus grain (sample type "grainy_student", --disc-grain) is fake for
    the detail head and left out of the consistency head."""
    if detail_real == "images":
        labels = dict(SAMPLE_LABELS)
    elif detail_real == "video":
        labels = {**SAMPLE_LABELS, "real_video": (1, 1)}
    elif detail_real == "video-only":
        labels = {**SAMPLE_LABELS, "real_video": (1, 1), "static_image": (0, 1), "unrelated_images": (0, -1)}
    elif detail_real == "teacher":
        labels = {**SAMPLE_LABELS, "static_image": (0, 1), "unrelated_images": (0, -1), "teacher_video": (1, 0)}
    else:
        raise ValueError(f"sample_labels: detail_real must be one of {', '.join(DETAIL_REAL)}, got {detail_real!r}")
    if grainy:
        labels["grainy_student"] = (-1, 0)
    return labels


def _flat(x: Tensor) -> Tensor:
    return x.reshape(-1, *x.shape[-3:])


def luma(x: Tensor) -> Tensor:
    """BT.601 luma in [0, 1] of RGB in [-1, 1]: (N, 3, H, W) → (N, 1, H, W)."""
    w = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return ((x + 1) * 0.5 * w).sum(1, keepdim=True)


def _gauss_matrix(n: int, size: int, sigma: float, like: Tensor) -> Tensor:
    """(n, n - size + 1) matrix whose product with a signal is its valid Gaussian filtering (fast on CPUs)."""
    g = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(g**2) / (2 * sigma**2))
    g = g / g.sum()
    cols = n - size + 1
    m = torch.zeros(n, cols, dtype=like.dtype, device=like.device)
    rows = torch.arange(size, device=like.device)[:, None] + torch.arange(cols, device=like.device)[None, :]
    m[rows, torch.arange(cols, device=like.device).expand(size, cols)] = g[:, None].expand(size, cols)
    return m


def ssim(a: Tensor, b: Tensor, size: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM of the lumas of two RGB batches in [-1, 1] (Gaussian window, valid region)."""
    ya, yb = luma(_flat(a)), luma(_flat(b))
    h, w = ya.shape[-2:]
    n = ya.shape[0]
    # the five local moments in one separable filtering pass, as two matrix products
    x = torch.cat([ya, yb, ya * ya, yb * yb, ya * yb])
    x = _gauss_matrix(h, size, sigma, ya).t() @ (x @ _gauss_matrix(w, size, sigma, ya))
    mu_a, mu_b, ea2, eb2, eab = torch.split(x, n)
    c1, c2 = 0.01**2, 0.03**2
    saa, sbb, sab = ea2 - mu_a**2, eb2 - mu_b**2, eab - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return s.mean()


def sobel(x: Tensor) -> Tensor:
    """Horizontal and vertical Sobel responses per channel: (N, C, H, W) → (N, 2C, H, W)."""
    k = x.new_tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 4
    c = x.shape[1]
    kk = torch.stack([k, k.t()]).unsqueeze(1).repeat(c, 1, 1, 1)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kk, groups=c)


def perceptual_substitute(a: Tensor, b: Tensor) -> Tensor:
    """The DISTS stand-in: `(1 - SSIM on Y) + L1 of Sobel gradients`."""
    return (1 - ssim(a, b)) + (sobel(_flat(a)) - sobel(_flat(b))).abs().mean()


def local_std(y: Tensor, sigma: float = 7 / 6) -> Tensor:
    """Local standard deviation under a 7x7 Gaussian window (BRISQUE's): (N, 1, H, W) → (N, 1, H-6, W-6)."""
    g = torch.arange(7, dtype=y.dtype, device=y.device) - 3
    g = torch.exp(-(g**2) / (2 * sigma**2))
    k = (g[:, None] * g[None]) / g.sum() ** 2
    mu_and_sq = F.conv2d(torch.cat([y, y * y], 1), k.expand(2, 1, 7, 7), groups=2)
    var = mu_and_sq[:, 1:] - mu_and_sq[:, :1] ** 2
    return torch.sqrt(var.clamp_min(0) + 1e-6)


def local_contrast_loss(a: Tensor, b: Tensor, scales: int = 2) -> Tensor:
    """L1 between the local standard deviations of the lumas of a and b, at full and halved resolutions.

    Where the target has texture, the student must put the same local energy there, but not the same phase."""
    ya, yb = luma(_flat(a)), luma(_flat(b))
    total = ya.new_zeros(())
    for s in range(scales):
        if s:
            ya, yb = F.avg_pool2d(ya, 2), F.avg_pool2d(yb, 2)
        total = total + (local_std(ya) - local_std(yb)).abs().mean()
    return total / scales


def pixel_regression(x_s: Tensor, x_t: Tensor, perceptual_weight: float = 1.0,
                     contrast_weight: float = 0.0) -> dict[str, Tensor]:
    """`{"l1": |x_s - x_t|_1, "perceptual": P(x_s, x_t)[, "contrast": local_contrast_loss]}` (weights applied)."""
    out = {"l1": (x_s - x_t).abs().mean()}
    if perceptual_weight:
        out["perceptual"] = perceptual_weight * perceptual_substitute(x_s, x_t)
    if contrast_weight:
        out["contrast"] = contrast_weight * local_contrast_loss(x_s, x_t)
    return out


def feature_l1(f_s: Tensor, f_t: Tensor) -> Tensor:
    """|f_s - f_t|_1 with the target detached."""
    return (f_s - f_t.detach()).abs().mean()


def generator_adversarial(logits: tuple[Tensor, Tensor]) -> Tensor:
    """softplus(-D(x_s)) averaged over all detail and consistency logits (so the heads weigh by their widths)."""
    d, c = logits
    return torch.cat([F.softplus(-d).flatten(), F.softplus(-c).flatten()]).mean()


def discriminator_loss(logits: dict[str, tuple[Tensor, Tensor]], labels: Labels = SAMPLE_LABELS) -> dict[str, Tensor]:
    """Sum over sample types of `softplus(-y_d * D_d) + softplus(-y_c * D_c)` (`labels` per type); a label 0 leaves
    its head out.

    Returns one term per sample type (already summed over the two heads) and their total under "total".
    """
    terms: dict[str, Tensor] = {}
    for kind, (d, c) in logits.items():
        yd, yc = labels[kind]
        t = d.new_zeros(())
        if yd:
            t = t + F.softplus(-yd * d).mean()
        if yc:
            t = t + F.softplus(-yc * c).mean()
        terms[kind] = t
    terms["total"] = torch.stack(list(terms.values())).sum()
    return terms


# ---- stage 2 on a feature backbone: balanced labels, per-part logits; fidelity anchors -------------------------------

def _part_loss(parts: list[Tensor], y: int) -> Tensor:
    """softplus(-y * D) averaged within each part of a head's logits, then over the parts."""
    return torch.stack([F.softplus(-y * p).mean() for p in parts]).mean()


def _part_accuracy(parts: list[Tensor], y: int) -> Tensor:
    """Share of logits on the side of label `y`, averaged within each part, then over the parts."""
    return torch.stack([((p > 0) == (y > 0)).float().mean() for p in parts]).mean()


def balanced_discriminator_loss(logits: dict[str, tuple[list[Tensor], list[Tensor]]],
                                heads: tuple[str, ...] = ("detail", "consistency"),
                                labels: Labels = SAMPLE_LABELS) -> dict[str, Tensor]:
    """The dual-head loss with `labels` (the spec's `SAMPLE_LABELS` unless given), balanced per label: for each
    head, half the weight on the sample types it calls real and half on those it calls fake (each type weighing the
    same within its half; label-0 types are left out), so that no head can win by answering the majority class.

    `logits` maps a sample type to (detail parts, consistency parts). Returns the loss of each head ("detail",
    "consistency"), their sum ("total"), and the accuracy of each head on each type ("acc_<head>_<type>",
    detached), for logging.
    """
    out: dict[str, Tensor] = {}
    total = None
    for hi, head in enumerate(("detail", "consistency")):
        sides: dict[int, list[Tensor]] = {1: [], -1: []}
        for kind, parts in logits.items():
            y = labels[kind][hi]
            if not y:
                continue
            sides[y].append(_part_loss(parts[hi], y))
            with torch.no_grad():
                out[f"acc_{head}_{kind}"] = _part_accuracy(parts[hi], y)
        if head not in heads:
            continue
        halves = [torch.stack(v).mean() for v in sides.values() if v]
        if not halves:  # no sample type with a label for this head in `logits`
            continue
        loss = torch.stack(halves).sum() / 2
        out[head] = loss
        total = loss if total is None else total + loss
    if total is None:
        raise ValueError("balanced_discriminator_loss: no head to train")
    out["total"] = total
    return out


def generator_adversarial_parts(logits: tuple[list[Tensor], list[Tensor]],
                                heads: tuple[str, ...] = ("detail", "consistency")) -> Tensor:
    """The student's term against a `BackboneDiscriminator`: softplus(-D) per head (each head and each part
    weighing the same), averaged over `heads`: the student wants real detail and real consistency."""
    terms = [_part_loss(p, 1) for name, p in zip(("detail", "consistency"), logits) if name in heads]
    return torch.stack(terms).mean()


def lowband_loss(x_s: Tensor, lr: Tensor) -> Tensor:
    """Fidelity anchor to the input: L1 between the output's 8x8 block means and the LR input's 2x2 block means
    (the same low band, 1/8 of the output's resolution); x_s (..., 3, 4h, 4w), lr (..., 3, h, w), in [-1, 1]."""
    a = F.avg_pool2d(_flat(x_s), 8)
    b = F.avg_pool2d(_flat(lr), 2)
    return (a - b).abs().mean()


def _phase_deviation(x: Tensor) -> Tensor:
    """(N, C, H, W), H and W multiples of 4 → (N, C, 16, H/4, W/4): each of the 16 sub-pixel phases (`pixel_unshuffle`
    (4)) less its 4x4 block's mean, per channel."""
    n, c, h, w = x.shape
    p = F.pixel_unshuffle(x, 4).view(n, c, 16, h // 4, w // 4)
    return p - p.mean(2, keepdim=True)


def subpixel_phases(x: Tensor, window: int = 8) -> Tensor:
    """The local pattern locked to the 4-px output grid: luma split into its 16 sub-pixel phases
    (`pixel_unshuffle(4)`), each phase's deviation from the 4x4 block mean, averaged over `window` x `window`
    blocks; (..., 3, H, W) → (N, 16, H/(4 window), W/(4 window)). A screen door shows as a constant offset per phase."""
    p = _phase_deviation(luma(_flat(x))).flatten(1, 2)
    return F.avg_pool2d(p, min(window, p.shape[-2], p.shape[-1]))


def remove_grid(x: Tensor, window: int = 0) -> Tensor:
    """`x` (N, C, H, W), H and W multiples of 4, less its 4-px periodic pattern: each of the 16 sub-pixel phases'
    mean deviation from the 4x4 block mean, per channel, over the whole image (`window` 0) or over each tile of
    `window` x `window` blocks (4 `window` px a side, as `grid_loss` measures; the block counts must be multiples of
    `window`), subtracted. A linear projection: a screen door of any phase (constant over each tile) goes whole,
    texture loses only its (small) period-4 average per tile, and a gradient that flows back through it has no such
    part."""
    n, c, h, w = x.shape
    if h % 4 or w % 4:
        raise ValueError(f"remove_grid: height and width must be multiples of 4, not {h}x{w}")
    if window < 0 or (window and (h // 4 % window or w // 4 % window)):
        raise ValueError(f"remove_grid: window {window} must be 0 or divide the {h // 4}x{w // 4} blocks")
    dev = _phase_deviation(x)
    if window:
        tiles = F.avg_pool2d(dev.view(n, c * 16, h // 4, w // 4), window)
        offset = F.interpolate(tiles, scale_factor=window, mode="nearest").view_as(dev)
    else:
        offset = dev.mean((-2, -1), keepdim=True).expand_as(dev)
    return x - F.pixel_shuffle(offset.reshape(n, c * 16, h // 4, w // 4), 4)


def grid_loss(x_s: Tensor, ref: Tensor, window: int = 8) -> Tensor:
    """L1 between the sub-pixel phase means of the output and of a reference (the HR frames), in luma [0, 1]."""
    return (subpixel_phases(x_s, window) - subpixel_phases(ref, window)).abs().mean()


def high_pass(y: Tensor, size: int = 5, sigma: float = 1.5) -> Tensor:
    """(N, 1, H, W) less its Gaussian blur (`size` x `size`, `sigma`), valid region: (N, 1, H - size + 1, ...)."""
    h, w = y.shape[-2:]
    r = size // 2
    return y[..., r:h - r, r:w - r] - _gauss_matrix(h, size, sigma, y).t() @ y @ _gauss_matrix(w, size, sigma, y)


def invariance_loss(x_a: Tensor, x_b: Tensor) -> Tensor:
    """L1 between the luma high passes (`high_pass`, luma in [0, 1]) of the student's outputs for two LR draws of
    the same clip (..., 3, H, W): detail it makes of the content costs nothing, detail it makes of one draw's noise
    (and that flickers with it, frame to frame) costs its size."""
    return (high_pass(luma(_flat(x_a))) - high_pass(luma(_flat(x_b)))).abs().mean()


def temporal_loss(x_s: Tensor, ref: Tensor) -> Tensor:
    """Flicker term: L1 between the frame-to-frame luma changes of the output and of a reference (the HR frames);
    x_s, ref (B, T, 3, H, W) in [-1, 1], T >= 2. Change the reference has (its motion) costs nothing; change it
    lacks (a texture or brightness that pops from frame to frame) costs its size."""
    if x_s.dim() != 5 or x_s.shape[1] < 2:
        raise ValueError(f"temporal_loss needs clips of 2 frames or more, (B, T, 3, H, W), not {tuple(x_s.shape)}")
    a, b = luma(_flat(x_s)).view(*x_s.shape[:2], -1), luma(_flat(ref)).view(*ref.shape[:2], -1)
    return ((a[:, 1:] - a[:, :-1]) - (b[:, 1:] - b[:, :-1])).abs().mean()
