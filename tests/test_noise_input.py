"""The noise input of a compact student (`compact-noise`) and the noise field that moves with the content."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from vsadcvsr.checkpoint import save_checkpoint
from vsadcvsr.flow import carry_noise
from vsadcvsr.model import CompactConfig, CompactVSR, get_config
from vsadcvsr.train import synthetic as fx
from vsadcvsr.train.config import TrainConfig
from vsadcvsr.train.trainer import Trainer


def _pan(n: int = 4, step: int = 2) -> np.ndarray:
    img = data.chelsea()
    return np.stack([img[40:168, 40 + step * i:168 + step * i] for i in range(n)])  # content moves left


def test_the_noise_moves_with_the_content_and_is_fresh_where_the_flow_fails() -> None:
    frames = _pan()
    n = carry_noise(frames, np.random.default_rng(0), 2)
    assert n.shape == (4, 2, 128, 128) and n.dtype == np.float32 and abs(n.std() - 1) < 0.02
    inner = (slice(None), slice(8, -8))
    for t in range(1, 4):  # the field of frame t at x is frame t-1's at x + 2: the content's own move
        assert np.array_equal(n[t][inner][..., 8:-10], n[t - 1][inner][..., 10:-8])
    cut = frames.copy()
    cut[2:] = np.rot90(frames[2:], 2, axes=(1, 2))  # a scene cut: nothing of frame 1 is in frame 2
    m = carry_noise(cut, np.random.default_rng(0), 1)
    assert abs(np.corrcoef(m[2, 0].ravel(), m[1, 0].ravel())[0, 1]) < 0.05


def test_a_fresh_noise_input_changes_nothing_and_a_wrong_one_is_refused() -> None:
    cfg = CompactConfig(channels=8, convs=4, temporal_every=2, noise_channels=16)
    net = CompactVSR(cfg).eval()
    x = torch.rand(1, 3, 3, 10, 12) * 2 - 1
    noise = torch.randn(1, 3, 16, 10, 12)
    with torch.no_grad():
        assert torch.equal(net(x), net.forward_features(x, noise=noise).image)
        net.noise_in.weight.normal_()
        assert not torch.allclose(net(x), net.forward_features(x, noise=noise).image)
    with pytest.raises(ValueError, match="noise of shape"):
        net.forward_features(x, noise=noise[:, :, :8])
    with pytest.raises(ValueError, match="noise of shape"):
        CompactVSR(cfg.replace(noise_channels=0)).forward_features(x, noise=noise)
    with pytest.raises(ValueError, match="multiple of 16"):
        CompactConfig(noise_channels=8)


def test_a_noise_student_starts_from_a_checkpoint_without_and_learns_its_input(tmp_path: Path) -> None:
    plain = CompactVSR(get_config("compact"))  # type: ignore[arg-type]
    src = tmp_path / "plain.safetensors"
    save_checkpoint(src, plain.state_dict(), plain.cfg, provenance="test", licence="test")
    cfg = TrainConfig(data="", run_dir=str(tmp_path / "run"), model="compact-noise", init=str(src), stage=1, steps=2,
                      batch=2, lr=1e-3, log_every=1, deterministic=True, checkpoint_every_s=1e9, feature_weight=0.0,
                      ae_weight=0.0)
    t = Trainer(cfg, dataset=fx.dataset(3))
    student = t.gen.student
    assert isinstance(student, CompactVSR) and not student.noise_in.weight.any()
    for k, v in plain.state_dict().items():
        assert torch.equal(student.state_dict()[k], v), k
    b = t.batch(0)
    assert b["noise"].shape == (2, 3, 16, 16, 16) and abs(float(b["noise"].std()) - 1) < 0.1
    assert torch.equal(b["noise"], t.batch(0)["noise"])  # drawn from the step's generator: reproducible
    t.fit()
    assert student.noise_in.weight.abs().sum() > 0


def test_the_noise_input_learns_at_its_own_rate_and_resumes_with_it(tmp_path: Path) -> None:
    def trainer(steps: int) -> Trainer:
        cfg = TrainConfig(data="", run_dir=str(tmp_path / "run"), model="compact-noise", stage=1, steps=steps,
                          batch=2, lr=1e-5, noise_lr=1e-2, lr_halve_at=1.0, log_every=1, deterministic=True,
                          checkpoint_every_s=1e9, feature_weight=0.0, ae_weight=0.0)
        return Trainer(cfg, dataset=fx.dataset(3))

    t = trainer(2)
    t.fit()
    assert [g["lr"] for g in t.opt_g.param_groups] == [1e-5, 1e-2]
    noise_w = t.gen.student.noise_in.weight.abs().max()
    body_move = (t.gen.student.body[12].weight - trainer(0).gen.student.body[12].weight).abs().max()
    assert noise_w > 100 * body_move  # Adam steps of about the rate: 1e-2 against 1e-5
    again = trainer(3)
    assert again.load_state() and again.step == 2
    again.fit()
    assert again.step == 3 and [g["lr"] for g in again.opt_g.param_groups] == [1e-5, 1e-2]


def test_noise_init_starts_the_noise_input_off_zero(tmp_path: Path) -> None:
    cfg = TrainConfig(data="", run_dir=str(tmp_path / "run"), model="compact-noise", stage=1, steps=0, batch=2,
                      noise_init=0.03, deterministic=True, feature_weight=0.0, ae_weight=0.0)
    w = Trainer(cfg, dataset=fx.dataset(3)).gen.student.noise_in.weight.detach()
    assert abs(float(w.std()) - 0.03) < 0.003
    assert torch.equal(w, Trainer(cfg, dataset=fx.dataset(3)).gen.student.noise_in.weight)  # from the run's seed
