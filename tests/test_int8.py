"""precision="int8": the compact family's convolutions quantised for the CPU (engine/quantize.py).

The tests calibrate on one small window (4 training frames at 80x34: seconds) instead of the engine's 16 frames at
160x68 (half a minute), and put that calibration in a private cache, where the engine finds it."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsadcvsr.checkpoint import load_model, resolve_model_path
from vsadcvsr.engine import Settings, SettingsError, Upscaler
from vsadcvsr.engine.quantize import (
    CALIBRATION_WINDOWS,
    Int8Compact,
    Int8Error,
    calibrate,
    calibration_file,
    check_int8,
    write_qparams,
)
from vsadcvsr.material import BIKES_EVAL_RANGES, BIKES_TRAIN_RANGES, read_video
from vsadcvsr.model.config import CompactConfig

#: int8 against fp32 on held-out bikes frames (RGB, pixels in [0, 1]): this test's small calibration gives 37.4 dB on
#: the network alone and 38.4 dB through the filter (the engine's own calibration: docs/onnx.md).
MIN_PSNR_DB = 35.0


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
    start, stop = CALIBRATION_WINDOWS[0]
    return calibrate(model, [frames_of(bikes, start, stop, 8) * 2 - 1])


@pytest.fixture(scope="module")
def int8_net(default_path, qparams) -> tuple[torch.nn.Module, Int8Compact]:
    """The float network and its int8 version."""
    model, _ = load_model(default_path)
    return model, Int8Compact(model, qparams)


@pytest.fixture
def int8_cache(tmp_path, monkeypatch, default_path, qparams) -> Path:
    """A private cache holding the small calibration, so that the engine does not calibrate."""
    monkeypatch.setenv("VSADCVSR_CACHE", str(tmp_path / "cache"))
    write_qparams(calibration_file(default_path), default_path, qparams)
    return tmp_path / "cache"


def test_calibration_frames_are_training_frames_only() -> None:
    for start, stop in CALIBRATION_WINDOWS:
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
    with pytest.raises(Int8Error, match="CPU only"):
        check_int8(CompactConfig(), torch.device("cuda"), "torch")
    with pytest.raises(Int8Error, match="compact family"):
        Upscaler(str(tiny_ckpt), precision="int8")
    assert Settings(precision="int8").precision == "int8"  # device None: the CPU


def test_int8_through_the_vapoursynth_filter(bikes, int8_cache, tiny_ckpt) -> None:
    import vapoursynth as vs

    import vsadcvsr as adcvsr

    core = vs.core
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
