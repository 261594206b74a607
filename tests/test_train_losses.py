"""Losses and discriminators: the label table, which heads each sample type trains, shapes, and that training
lowers the loss."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vsadcvsr.train import synthetic as fx
from vsadcvsr.train.config import TrainConfig
from vsadcvsr.train.discriminators import Discriminators, DualHeadDiscriminator, pixel_backbone
from vsadcvsr.train.losses import (
    SAMPLE_LABELS,
    discriminator_loss,
    generator_adversarial,
    local_contrast_loss,
    local_std,
    perceptual_substitute,
    ssim,
)
from vsadcvsr.train.trainer import Trainer


def test_sample_type_labels_are_the_papers() -> None:
    assert SAMPLE_LABELS == {
        "student": (-1, -1),
        "real_video": (0, 1),
        "shuffled_video": (0, -1),
        "static_image": (1, 1),
        "unrelated_images": (1, -1),
    }


@pytest.mark.parametrize("kind", list(SAMPLE_LABELS))
def test_each_sample_type_pushes_each_head_towards_its_label(kind: str) -> None:
    d = torch.zeros(2, 3, 192, 2, 2, requires_grad=True)
    c = torch.zeros(2, 3, 64, 2, 2, requires_grad=True)
    discriminator_loss({kind: (d, c)})["total"].backward()
    yd, yc = SAMPLE_LABELS[kind]
    # gradient descent moves the logits along -grad: towards +inf for real (+1), -inf for fake (-1), nowhere for 0
    for g, y in ((d.grad, yd), (c.grad, yc)):
        g = torch.zeros_like(d) if g is None else g
        assert torch.all(torch.sign(-g) == y)


def test_generator_term_weighs_the_heads_by_their_widths() -> None:
    d, c = torch.zeros(1, 1, 192, 1, 1, requires_grad=True), torch.zeros(1, 1, 64, 1, 1, requires_grad=True)
    generator_adversarial((d, c)).backward()
    assert d.grad is not None and c.grad is not None
    assert torch.allclose(d.grad.sum() / c.grad.sum(), torch.tensor(3.0))


def test_discriminators_give_detail_and_consistency_logits_per_frame() -> None:
    disc = Discriminators(feature_channels=64, detail_channels=192)
    (pd, pc), (fd, fc) = disc(torch.zeros(2, 3, 3, 64, 64), torch.zeros(2, 3, 64, 8, 8))
    assert pd.shape == (2, 3, 192, 4, 4) and pc.shape == (2, 3, 64, 4, 4)
    assert fd.shape == (2, 3, 192, 4, 4) and fc.shape == (2, 3, 64, 4, 4)


def test_the_consistency_head_sees_frame_order() -> None:
    torch.manual_seed(0)
    disc = DualHeadDiscriminator(pixel_backbone(), detail_channels=128)
    x = torch.randn(1, 4, 3, 32, 32)
    _, c1 = disc(x)
    _, c2 = disc(x[:, [2, 0, 3, 1]])
    assert c1.shape[2] == 128 and not torch.allclose(c1[:, [2, 0, 3, 1]], c2, atol=1e-5)


def test_ssim_is_one_for_identical_images_and_the_substitute_zero() -> None:
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.isclose(ssim(x, x), torch.tensor(1.0), atol=1e-5)
    assert perceptual_substitute(x, x).abs() < 1e-5
    assert perceptual_substitute(x, x.flip(-1)) > 0.1


def test_local_contrast_ignores_where_texture_lies_but_not_how_much_there_is() -> None:
    x = torch.arange(64.0)
    grating = 0.2 * torch.sin(x * torch.pi / 4)[None, :] * torch.cos(x * torch.pi / 4)[:, None]
    grating = grating.expand(1, 1, 3, 64, 64)
    shifted = grating.roll(4, dims=-1)  # the same texture half a period on: a large L1, the same local energy
    assert (grating - shifted).abs().mean() > 0.05
    assert local_contrast_loss(grating, shifted) < 1e-3 * local_contrast_loss(grating, grating * 0.3)
    assert local_contrast_loss(grating, grating) < 1e-6
    flat = torch.full((1, 1, 49, 49), 0.5)
    assert local_std(flat).shape == (1, 1, 43, 43) and local_std(flat).max() < 2e-3


def test_the_contrast_term_is_logged_and_trained(tmp_path: Path) -> None:
    cfg = TrainConfig(data="", run_dir=str(tmp_path), steps=1, batch=2, contrast_weight=2.0)
    tr = Trainer(cfg, dataset=fx.dataset(2))
    terms = tr.train_step()
    assert terms["contrast_gt"] > 0
    off = Trainer(TrainConfig(data="", run_dir=str(tmp_path / "off"), steps=1, batch=2), dataset=fx.dataset(2))
    assert "contrast_gt" not in off.train_step()


@pytest.mark.parametrize("stage", [1, 2])
def test_training_lowers_the_loss_on_a_tiny_batch(stage: int, tmp_path: Path) -> None:
    cfg = TrainConfig(data="", run_dir=str(tmp_path), stage=stage, steps=12, batch=2, lr=1e-3, d_lr=1e-4,
                      lr_halve_at=1.0, log_every=100)
    tr = Trainer(cfg, dataset=fx.dataset(2), material=fx.material())
    losses = [tr.train_step() for _ in range(12)]
    key = "l1_gt"
    assert sum(x[key] for x in losses[-3:]) < 0.8 * sum(x[key] for x in losses[:3])
    if stage == 2:
        assert all(k in losses[0] for k in ("adv_pixel", "adv_feature", "d_pixel_student", "d_feature_static_image"))


def test_without_feature_and_autoencoder_terms_the_encoder_is_not_run(tmp_path: Path) -> None:
    cfg = TrainConfig(data="", run_dir=str(tmp_path), steps=1, batch=2, feature_weight=0.0, ae_weight=0.0)
    tr = Trainer(cfg, dataset=fx.dataset(2))
    terms = tr.train_step()
    assert "l1_gt" in terms and "feature_gt" not in terms and "ae_gt" not in terms
    assert all(p.grad is None for p in tr.gen.encoder.parameters())


def test_contrast_target_hr_matches_the_real_frames_local_energy(tmp_path: Path) -> None:
    def cfg(target: str) -> TrainConfig:
        return TrainConfig(data="", run_dir=str(tmp_path / target), stage=1, steps=1, batch=2, pixel_weight=1.0,
                           contrast_weight=10.0, contrast_target=target, teachers={"gt": 0.5, "animevideov3": 0.5},
                           teacher_mix="blend", deterministic=True, feature_weight=0.0, ae_weight=0.0)

    ds = fx.dataset(3)
    ds.teachers["animevideov3"] = ds.hr // 2 + 64  # a stand-in target with half the real frames' local energy
    on_hr, on_teacher = Trainer(cfg("hr"), dataset=ds), Trainer(cfg("teacher"), dataset=ds)
    b = on_hr.batch(0)
    _, terms, x_s, _ = on_hr.generator_losses(b)
    assert "contrast_hr" in terms and "contrast_blend" not in terms
    assert terms["contrast_hr"] == pytest.approx(10.0 * float(local_contrast_loss(x_s, b["hr"])), rel=1e-5)
    _, terms_t, _, _ = on_teacher.generator_losses(on_teacher.batch(0))
    assert "contrast_blend" in terms_t and "contrast_hr" not in terms_t
    assert terms_t["contrast_blend"] != pytest.approx(terms["contrast_hr"])
    with pytest.raises(ValueError, match="contrast_target must be teacher or hr"):
        Trainer(cfg("lr"), dataset=ds)
