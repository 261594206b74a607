"""ONNX export (`python -m vsadcvsr export-onnx`) and the runtime backends (engine/backends.py) against torch, on
real bikes frames with the bundled default model. Tolerances: fp32 runtimes within 1e-4 of torch fp32 (on [0, 1]
pixels); TensorRT fp16 within 2/255 of torch fp16 (needs CUDA: marked `cuda`, skipped here)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

from vsadcvsr.__main__ import main  # noqa: E402
from vsadcvsr.engine import Upscaler  # noqa: E402
from vsadcvsr.engine.backends import BackendError, backend_network, cache_dir  # noqa: E402
from vsadcvsr.export_onnx import FP32_LIMIT, read_metadata  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def bikes_frames(bikes: Path, start: int, n: int, w: int, h: int) -> torch.Tensor:
    """n real frames of bikes.mp4 from `start`, area-resized to w x h, (n, 3, h, w) in [0, 1]."""
    import av
    import numpy as np

    with av.open(str(bikes)) as c:
        frames = [f.to_ndarray(format="rgb24") for i, f in zip(range(start + n), c.decode(video=0)) if i >= start]
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
    return torch.nn.functional.interpolate(x, size=(h, w), mode="area").clamp(0, 1)


@pytest.fixture(scope="module")
def cli_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("onnx") / "default.onnx"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    r = subprocess.run([sys.executable, "-m", "vsadcvsr", "export-onnx", "-o", str(out), "--frames", "3",
                        "--size", "48x32"], env=env, capture_output=True, text=True, timeout=900)
    return out, r


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory):
    """VSADCVSR_CACHE pointing at a fresh folder for this module (the dynamic export is made once in it)."""
    folder = tmp_path_factory.mktemp("cache")
    old = os.environ.get("VSADCVSR_CACHE")
    os.environ["VSADCVSR_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("VSADCVSR_CACHE")
    else:
        os.environ["VSADCVSR_CACHE"] = old


@pytest.fixture(scope="module")
def torch_fp32() -> Upscaler:
    return Upscaler("default", device="cpu", precision="fp32")


def test_export_cli_writes_a_checked_file_with_its_contract(cli_export, bikes: Path) -> None:
    import onnx

    out, r = cli_export
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout == ""  # progress and results on stderr only
    assert "ONNX Runtime vs torch fp32 on bikes.mp4" in r.stderr and f"wrote {out} (opset 18)" in r.stderr
    onnx.checker.check_model(str(out), full_check=True)
    proto = onnx.load(str(out))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [18]
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert proto.graph.input[0].name == "frames" and dims == [3, 3, 32, 48]
    assert proto.graph.output[0].name == "upscaled"
    meta = read_metadata(out)
    assert meta["vsadcvsr.scale"] == "4" and meta["vsadcvsr.min_size"] == "11" and meta["vsadcvsr.opset"] == "18"
    assert meta["vsadcvsr.size"] == "48x32" and meta["vsadcvsr.frames"] == "3" and meta["vsadcvsr.dynamic"] == "0"
    assert "[0, 1]" in meta["vsadcvsr.contract"] and "unclamped" in meta["vsadcvsr.contract"]
    assert meta["licence"]  # the checkpoint's provenance and licence travel with the file
    # independently of the CLI's own check: other real frames (another shot), ONNX Runtime vs torch fp32
    frames = bikes_frames(bikes, 40, 3, 48, 32)
    got = torch.from_numpy(ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
                           .run(["upscaled"], {"frames": frames.numpy()})[0])
    with torch.inference_mode():
        want = Upscaler("default", precision="fp32")._net(frames * 2 - 1) * 0.5 + 0.5
    assert got.shape == (3, 3, 128, 192)
    assert (got - want).abs().max().item() < FP32_LIMIT


@pytest.mark.parametrize("args", [["--size", "64"], ["--size", "0x32"], ["--frames", "0"], ["--opset", "3"], []])
def test_export_usage_errors_exit_2(args: list[str], tmp_path: Path, capsys) -> None:
    out = tmp_path / "m.onnx"
    argv = ["export-onnx", *args] + (["-o", str(out)] if args else [])
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert not out.exists() and "error" in capsys.readouterr().err


def test_export_refusal_names_the_problem_and_keeps_an_older_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "m.onnx"
    out.write_bytes(b"an older export")
    assert main(["export-onnx", "-o", str(out), "--size", "8x8"]) == 1
    err = capsys.readouterr().err
    assert "too small" in err and "at least 11" in err
    assert out.read_bytes() == b"an older export"
    assert main(["export-onnx", "--model", str(tmp_path / "none.safetensors"), "-o", str(out)]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
    assert out.read_bytes() == b"an older export" and [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_onnxruntime_backend_matches_torch_on_real_frames(onnx_cache: Path, torch_fp32: Upscaler,
                                                          bikes: Path) -> None:
    net = backend_network("onnxruntime", torch_fp32.path, torch.device("cpu"), "fp32")
    exports = sorted((cache_dir() / "onnx").glob("*.onnx"))
    assert len(exports) == 1 and read_metadata(exports[0])["vsadcvsr.dynamic"] == "1"
    for start, n, w, h in ((140, 5, 72, 40), (10, 2, 33, 47)):  # two shapes, one export
        x = bikes_frames(bikes, start, n, w, h) * 2 - 1
        with torch.inference_mode():
            want = torch_fp32._net(x)
        got = net(x[None])[0]
        assert got.shape == want.shape == (n, 3, 4 * h, 4 * w)
        assert (got - want).abs().max().item() * 0.5 < FP32_LIMIT
    mtime = exports[0].stat().st_mtime_ns
    backend_network("onnxruntime", torch_fp32.path, torch.device("cpu"), "auto")
    assert sorted((cache_dir() / "onnx").glob("*.onnx")) == exports and exports[0].stat().st_mtime_ns == mtime


def test_openvino_backend_matches_torch_on_real_frames(onnx_cache: Path, torch_fp32: Upscaler, bikes: Path) -> None:
    pytest.importorskip("openvino")
    net = backend_network("openvino", torch_fp32.path, torch.device("cpu"), "fp32", num_streams=2)
    x = bikes_frames(bikes, 190, 4, 64, 36) * 2 - 1
    with torch.inference_mode():
        want = torch_fp32._net(x)
    got = net(x[None])[0]
    assert got.shape == want.shape and (got - want).abs().max().item() * 0.5 < FP32_LIMIT


def test_backends_refuse_what_they_cannot_do(onnx_cache: Path, torch_fp32: Upscaler, tiny_ckpt: Path) -> None:
    cpu = torch.device("cpu")
    with pytest.raises(BackendError, match="unknown backend 'ncnn'"):
        backend_network("ncnn", torch_fp32.path, cpu)
    with pytest.raises(BackendError, match="NVIDIA GPU"):
        backend_network("tensorrt", torch_fp32.path, cpu)
    with pytest.raises(BackendError, match="fp32 on the CPU, not bf16"):
        backend_network("onnxruntime", torch_fp32.path, cpu, "bf16")
    with pytest.raises(BackendError, match="default model's family"):
        backend_network("onnxruntime", tiny_ckpt, cpu)
    net = backend_network("onnxruntime", torch_fp32.path, cpu)
    with pytest.raises(ValueError, match="too small.*at least 11 pixels"):
        net(torch.zeros(1, 2, 3, 8, 40))


@pytest.mark.cuda
def test_tensorrt_fp16_is_close_to_torch_fp16(onnx_cache: Path, bikes: Path) -> None:
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        pytest.skip("ONNX Runtime without its TensorRT provider (onnxruntime-gpu + TensorRT)")
    gpu = Upscaler("default", device="cuda", precision="fp16")
    net = backend_network("tensorrt", gpu.path, gpu.device, "fp16")
    x = (bikes_frames(bikes, 140, 4, 320, 180) * 2 - 1).cuda()
    with torch.inference_mode():
        want = gpu._net(x)
    got = net(x[None])[0]
    assert (got - want).abs().max().item() * 0.5 < 2 / 255


def test_upscale_filter_with_the_openvino_backend_matches_torch(onnx_cache: Path, bikes: Path) -> None:
    """adcvsr.Upscale(backend=...) through VapourSynth: same windows, tiles and colour fix, so the same frames up
    to the runtime's arithmetic (8-bit output: at most 1 level apart)."""
    pytest.importorskip("openvino")
    import numpy as np
    import vapoursynth as vs

    from vsadcvsr.vs_filter import Upscale

    core = vs.core
    clip = core.bs.VideoSource(str(bikes))[140:146]
    clip = core.resize.Spline36(clip, 96, 40, format=vs.YUV420P8)
    kw = {"window": 4, "overlap": 1, "precision": "fp32", "device": "cpu"}
    a, b = Upscale(clip, backend="torch", **kw), Upscale(clip, backend="openvino", tile=(48, 40), tile_overlap=8, **kw)
    a_t = Upscale(clip, backend="torch", tile=(48, 40), tile_overlap=8, **kw)
    for n in (0, 3, 5):
        for p in range(3):
            x = np.asarray(a_t.get_frame(n)[p]).astype(int)
            y = np.asarray(b.get_frame(n)[p]).astype(int)
            assert np.abs(x - y).max() <= 1
    assert a.width == b.width == 384 and a.num_frames == b.num_frames == 6
    with pytest.raises(vs.Error, match="adcvsr.Upscale: unknown backend 'ncnn'"):
        Upscale(clip, backend="ncnn")


def test_ffmpeg_bridge_backend_option(onnx_cache: Path, bikes: Path, tmp_path: Path) -> None:
    """adcvsr-ffmpeg --backend onnxruntime (a real process on real frames) against --backend torch: frames at most
    1 level apart; --backend tensorrt without a GPU is refused (exit 1), an unknown one is a usage error (exit 2)."""
    from conftest_ffmpeg import planes

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    outs = {}
    for backend in ("torch", "onnxruntime"):
        outs[backend] = tmp_path / f"{backend}.mkv"
        cmd = [sys.executable, "-m", "ffmpeg_filter.cli", str(bikes), str(outs[backend]), "--start", "140",
               "--end", "144", "--vf-pre", "scale=64:28", "--precision", "fp32", "--window", "4", "--overlap", "1",
               "--backend", backend, "-q", "-c:v", "ffv1", "-pix_fmt", "yuv444p"]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
    a, b = planes(outs["torch"], 4), planes(outs["onnxruntime"], 4)
    assert len(a) == len(b) == 4 and a[0][0].shape == (112, 256)
    assert max(abs(x.astype(int) - y.astype(int)).max() for fa, fb in zip(a, b) for x, y in zip(fa, fb)) <= 1
    base = [sys.executable, "-m", "ffmpeg_filter.cli", str(bikes), str(tmp_path / "no.mkv"), "--end", "2", "-q"]
    r = subprocess.run([*base, "--backend", "tensorrt"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "NVIDIA GPU" in r.stderr and not (tmp_path / "no.mkv").exists()
    r = subprocess.run([*base, "--backend", "ncnn"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--backend" in r.stderr


def test_a_backend_that_is_not_installed_names_its_extra(monkeypatch: pytest.MonkeyPatch,
                                                         torch_fp32: Upscaler) -> None:
    """openvino made unimportable (a None entry in sys.modules): one line naming the backend and the extra."""
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(BackendError, match=r"backend 'openvino': openvino .*pip install 'vsadcvsr\[openvino\]'"):
        backend_network("openvino", torch_fp32.path, torch.device("cpu"))
