"""The draw term (--invariance-weight): its loss, the set's second LR draw, and a trainer step with it."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vsadcvsr.degradation import degrade_clip
from vsadcvsr.train import synthetic as fx
from vsadcvsr.train.config import TrainConfig
from vsadcvsr.train.dataset import SECOND_DRAW, ClipDataset, add_second_draw
from vsadcvsr.train.losses import high_pass, invariance_loss
from vsadcvsr.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]


def test_invariance_loss_costs_detail_of_the_draw_not_of_the_content() -> None:
    torch.manual_seed(0)
    content = torch.rand(2, 3, 3, 32, 32) * 2 - 1  # (B, T, 3, H, W): detail both draws share
    assert float(invariance_loss(content, content)) == 0.0
    assert float(invariance_loss(content, content + 0.3)) < 1e-6  # a brightness offset is no detail
    grain = torch.randn(2, 3, 1, 32, 32).expand(-1, -1, 3, -1, -1) * 0.05
    loss = float(invariance_loss(content + grain, content))
    assert loss > 0.5 * float(high_pass(grain[:, :, :1].reshape(-1, 1, 32, 32) * 0.5).abs().mean())
    assert float(invariance_loss(content + 2 * grain, content)) == pytest.approx(2 * loss, rel=1e-4)
    y = torch.rand(1, 1, 20, 24)
    assert high_pass(y).shape == (1, 1, 16, 20)


def _set_file(path: Path, clips: int = 3) -> ClipDataset:
    ds = fx.dataset(clips)
    meta = {"clips": clips, "seed": 0, "presets": ["mild", "standard", "mild"][:clips]}
    np.savez(path, lr=ds.lr, hr=ds.hr, teacher_animevideov3=ds.hr, meta=np.array(json.dumps(meta)))
    return ds


def test_add_second_draw_degrades_each_clip_again_with_its_preset_and_another_seed(tmp_path: Path) -> None:
    ds = _set_file(tmp_path / "d.npz")
    add_second_draw(tmp_path / "d.npz")
    got = ClipDataset.load(tmp_path / "d.npz")
    assert got.lr_alt is not None and got.lr_alt.shape == ds.lr.shape and got.lr_alt.dtype == np.uint8
    for i, preset in enumerate(["mild", "standard", "mild"]):
        want = np.rint(degrade_clip(ds.hr[i], 4, i + SECOND_DRAW, preset) * 255.0).astype(np.uint8)
        assert np.array_equal(got.lr_alt[i], want)
        assert not np.array_equal(got.lr_alt[i], np.rint(degrade_clip(ds.hr[i], 4, i, preset) * 255.0))
    assert np.array_equal(got.lr, ds.lr) and np.array_equal(got.teachers["animevideov3"], ds.hr)
    assert "second draw" in got.meta["lr_alt"] and not list(tmp_path.glob("*.part*"))
    with pytest.raises(ValueError, match="add_second_draw: lr_alt"):
        add_second_draw(tmp_path / "d.npz", lr_alt=ds.lr[:2])
    add_second_draw(tmp_path / "d.npz", lr_alt=ds.lr)  # given (a slim copy's): taken as it is
    assert np.array_equal(ClipDataset.load(tmp_path / "d.npz").lr_alt, ds.lr)
    np.savez(tmp_path / "bare.npz", lr=ds.lr, hr=ds.hr, meta=np.array(json.dumps({"clips": 3})))
    before = (tmp_path / "bare.npz").read_bytes()
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_training_data.py"), str(tmp_path / "bare.npz"),
                        "--add-second-draw"], capture_output=True, text=True)
    assert r.returncode == 2 and "no preset per clip" in r.stderr and r.stdout == ""
    assert (tmp_path / "bare.npz").read_bytes() == before


def _cfg(tmp_path: Path, **kw: object) -> TrainConfig:
    base = dict(data="", run_dir=str(tmp_path), model="compact", stage=1, steps=1, batch=2, frames=3, lr=1e-3,
                teachers={"animevideov3": 1.0}, feature_weight=0.0, ae_weight=0.0, log_every=1, deterministic=True,
                checkpoint_every_s=1e9)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_a_step_with_the_draw_term_runs_both_draws_and_logs_it(tmp_path: Path) -> None:
    ds = fx.dataset(3)
    ds = dataclasses.replace(ds, teachers={**ds.teachers, "animevideov3": ds.hr},
                             lr_alt=np.ascontiguousarray(ds.lr[:, :, ::-1]))  # another LR of each clip
    with pytest.raises(ValueError, match="Trainer: invariance_weight needs a set with a second LR draw"):
        Trainer(_cfg(tmp_path / "a", invariance_weight=1.0), dataset=dataclasses.replace(ds, lr_alt=None))
    with pytest.raises(ValueError, match="Trainer: invariance_weight .* no feature encoder"):
        Trainer(_cfg(tmp_path / "a", invariance_weight=1.0, feature_weight=1.0), dataset=ds)
    tr = Trainer(_cfg(tmp_path / "b", invariance_weight=1.0), dataset=ds)
    b = tr.batch(0)
    assert b["lr_alt"].shape == b["lr"].shape and not torch.equal(b["lr_alt"], b["lr"])
    _, terms, x_s, _ = tr.generator_losses(b)
    x_alt = tr.gen(b["lr_alt"], None)[0].detach()
    assert terms["invariance"] == pytest.approx(float(invariance_loss(x_s, x_alt)), rel=1e-4)
    assert x_s.shape[0] == b["lr"].shape[0]
    off = Trainer(_cfg(tmp_path / "c"), dataset=ds)
    assert "lr_alt" not in off.batch(0) and "invariance" not in off.generator_losses(off.batch(0))[1]
    tr.fit()
    log = [json.loads(x) for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert tr.step == 1 and log[-1]["invariance"] > 0
