"""Trainer: resuming gives the state of an uninterrupted run; export gives a loadable vsadcvsr checkpoint."""
from __future__ import annotations

from pathlib import Path

import torch

from vsadcvsr.checkpoint import load_model
from vsadcvsr.train import synthetic as fx
from vsadcvsr.train.trainer import Trainer, TrainConfig, export_state


def _cfg(run_dir: Path, steps: int) -> TrainConfig:
    return TrainConfig(data="", run_dir=str(run_dir), stage=2, steps=steps, batch=2, lr=1e-3, d_lr=1e-4,
                       lr_halve_at=0.5, log_every=1, deterministic=True, checkpoint_every_s=1e9)


def _trainer(run_dir: Path, steps: int) -> Trainer:
    return Trainer(_cfg(run_dir, steps), dataset=fx.dataset(4), material=fx.material())


def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    a = _trainer(tmp_path / "a", 4)
    a.fit()
    b = _trainer(tmp_path / "b", 4)
    b.fit(until=2)  # interrupted after 2 steps; state.pt written
    b2 = _trainer(tmp_path / "b", 4)  # a fresh process would do exactly this: resume from state.pt
    b2.fit()
    assert b2.step == a.step == 4
    sa, sb = a.state(), b2.state()
    for part in ("gen", "disc"):
        for k, v in sa[part].items():
            assert torch.allclose(v, sb[part][k], atol=1e-6, rtol=0), (part, k)
    for k, v in sa["opt_g"]["state"].items():
        assert torch.allclose(v["exp_avg"], sb["opt_g"]["state"][k]["exp_avg"], atol=1e-6, rtol=0)
    la = (tmp_path / "a" / "log.jsonl").read_text().splitlines()
    lb = (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    assert len(la) == len(lb) == 4


def test_export_writes_a_checkpoint_the_package_loads(tmp_path: Path) -> None:
    t = _trainer(tmp_path, 1)
    t.fit()
    t.export(tmp_path / "m.safetensors")
    model, info = load_model(tmp_path / "m.safetensors")
    assert info.config == t.model_cfg and info.metadata["steps"] == "1"
    x = torch.rand(1, 2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        ref = t.gen.student.eval()(x)
        assert torch.allclose(model(x), ref, atol=1e-5)


def test_a_saved_training_state_exports_the_same_student(tmp_path: Path) -> None:
    t = _trainer(tmp_path, 1)
    t.fit()
    t.export(tmp_path / "a.safetensors")
    export_state(tmp_path / "state.pt", tmp_path / "b.safetensors", {"note": "x"})
    a, _ = load_model(tmp_path / "a.safetensors")
    b, info = load_model(tmp_path / "b.safetensors")
    assert info.metadata["note"] == "x" and info.metadata["steps"] == "1"
    for (k, v), (k2, v2) in zip(a.state_dict().items(), b.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
