"""Growing a compact student deeper (train/grow.py, scripts/grow_model.py): the same function, then trainable."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vsadcvsr.checkpoint import load_model, read_info, save_checkpoint
from vsadcvsr.model import CompactConfig, CompactVSR, get_config
from vsadcvsr.train import synthetic as fx
from vsadcvsr.train.config import TrainConfig
from vsadcvsr.train.grow import deepen
from vsadcvsr.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]


def _trained_like(cfg: CompactConfig) -> CompactVSR:
    """A network whose temporal blocks and activations are not at their start (as after training)."""
    torch.manual_seed(1)
    net = CompactVSR(cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


def test_a_deepened_network_computes_the_same_and_then_trains(tmp_path: Path) -> None:
    small = _trained_like(CompactConfig(channels=8, convs=4, temporal_every=2))
    state, cfg = deepen(small.state_dict(), small.cfg, 7)
    assert cfg.convs == 7 and set(cfg.temporal_sites) == {2, 4, 6}
    big = CompactVSR(cfg).eval()
    big.load_state_dict(state, strict=True)
    x = torch.rand(2, 3, 3, 12, 10) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(big(x), small(x), atol=1e-6)
    big.train()
    big(x).square().mean().backward()
    added = [big.body[5].weight.grad, big.temporals["6"].conv_b.weight.grad]
    assert all(g is not None and g.abs().sum() > 0 for g in added)  # the new layers learn from the first step


def test_deepen_refuses_to_shrink_or_to_move_a_noise_input() -> None:
    net = CompactVSR(CompactConfig(channels=8, convs=4))
    with pytest.raises(ValueError, match="cannot grow to 2"):
        deepen(net.state_dict(), net.cfg, 2)
    noisy = CompactVSR(CompactConfig(channels=8, convs=4, noise_channels=16))
    with pytest.raises(ValueError, match="noise input cannot grow"):
        deepen(noisy.state_dict(), noisy.cfg, 6)


def test_grow_model_script_and_a_run_from_its_output(tmp_path: Path) -> None:
    small = _trained_like(get_config("compact"))  # type: ignore[arg-type]
    src = tmp_path / "small.safetensors"
    save_checkpoint(src, small.state_dict(), small.cfg, provenance="test", licence="test", extra={"steps": "7"})
    before = src.read_bytes()
    out = tmp_path / "deep.safetensors"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "grow_model.py"), str(src), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert src.read_bytes() == before  # the source untouched
    info = read_info(out)
    assert info.config == get_config("compact-deep") and info.metadata["steps"] == "7"
    deep, _ = load_model(out)
    x = torch.rand(1, 3, 3, 14, 12) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(deep(x), small(x), atol=1e-5)
    cfg = TrainConfig(data="", run_dir=str(tmp_path / "run"), model="compact-deep", init=str(out), stage=1, steps=1,
                      batch=1, lr=1e-4, log_every=1, deterministic=True, checkpoint_every_s=1e9, feature_weight=0.0,
                      ae_weight=0.0)
    t = Trainer(cfg, dataset=fx.dataset(2))
    t.fit()
    assert t.step == 1
    again = subprocess.run([sys.executable, str(ROOT / "scripts" / "grow_model.py"), str(src), str(src)],
                           capture_output=True, text=True)
    assert again.returncode == 1 and "grow_model: the output must be another file" in again.stderr
    assert src.read_bytes() == before
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "grow_model.py"), str(src), str(out), "--convs", "8"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "grow_model: deepen: a network of 16 convolutions cannot grow to 8" in bad.stderr
