"""compile=True: the network through torch.compile (Inductor) for the shapes that recur (engine/compiled.py).

The compiling tests need a C++ compiler for Inductor ($CXX, else g++) and skip without one; each process compiles
the default network once for their shape (about half a minute on 2 cores), which the filter test then reuses."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs
from vs_clips import frame_array

import vsadcvsr as adcvsr
from ffmpeg_filter import BridgeError, JobOptions
from vsadcvsr.engine import Settings, SettingsError, Upscaler
from vsadcvsr.engine.compiled import CompiledNetwork
from vsadcvsr.material import read_video

needs_cxx = pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None,
                               reason="Inductor needs a C++ compiler ($CXX or g++), and there is none")
core = vs.core


def window_of(bikes: Path) -> torch.Tensor:
    """4 real frames of one shot, 160x68, as (T, 3, h, w) in [0, 1]."""
    x = torch.from_numpy(read_video(bikes, 140, 144)).permute(0, 3, 1, 2).float() / 255
    return torch.nn.functional.avg_pool2d(x, 4)


def test_compile_is_a_checked_setting():
    assert Settings().compile is False and Settings(compile=True).compile is True
    with pytest.raises(SettingsError, match=r"compile must be True or False, not 1 \(int\)"):
        Settings(compile=1)
    with pytest.raises(SettingsError, match="compile applies to the torch backend only, not 'openvino'"):
        Settings(compile=True, backend="openvino")
    with pytest.raises(SettingsError, match="compile applies to fp32, fp16 and bf16, not precision 'int8'"):
        Settings(compile=True, precision="int8")
    with pytest.raises(BridgeError, match="compile applies to the torch backend only"):
        JobOptions(compile=True, backend="onnxruntime")
    clip = core.std.BlankClip(width=32, height=24, format=vs.RGB24, length=4)
    with pytest.raises(vs.Error, match="adcvsr.Upscale: compile must be True or False"):
        adcvsr.Upscale(clip, compile="yes")


def test_only_full_windows_that_recur_are_compiled():
    """The choice alone (no compiling): the second full window of a frame size, never a shorter piece."""
    net = CompiledNetwork(torch.nn.Identity(), max_shapes=2)
    full, short, other = (1, 16, 3, 68, 160), (1, 5, 3, 68, 160), (1, 16, 3, 64, 64)
    decisions = []
    for shape in (full, full, short, short, full, other, other, (1, 16, 3, 32, 32), (1, 16, 3, 32, 32)):
        wanted = net._wanted(shape)
        if wanted:
            net.compiled.add(shape)  # what a successful compile does
        decisions.append(wanted)
    # first full window eager, then compiled; the short piece never (fewer frames than the size's full windows);
    # a second size likewise; a third size finds both places taken (max_shapes=2)
    assert decisions == [False, True, False, False, True, False, True, False, False]
    late = CompiledNetwork(torch.nn.Identity())
    for shape in (short, short, full):  # a clip that starts with a short piece: compiled until full windows come
        late._wanted(shape)
    assert late._wanted(short) is False and late._wanted(full) is True


@needs_cxx
def test_the_compiled_network_gives_the_eager_frames(bikes):
    x = window_of(bikes)
    eager = Upscaler("default", precision="fp32")
    compiled = Upscaler("default", precision="fp32", compile=True)
    assert compiled.compiled is not None and eager.compiled is None
    outs = [compiled.upscale_window(x) for _ in range(3)] + [compiled.upscale_window(x[:2])]
    assert compiled.compiled.compiled == {(1, 4, 3, 68, 160)}, compiled.compiled.failed
    import torch._inductor.config as inductor_config

    assert inductor_config.freezing is False  # frozen weights were patched in for the compile only
    ref = eager.upscale_window(x)
    for y in outs[:3]:
        assert (y - ref).abs().max().item() < 1e-5
    assert (outs[3] - eager.upscale_window(x[:2])).abs().max().item() < 1e-5


@needs_cxx
def test_compile_through_the_vapoursynth_filter(bikes):
    """The same frames with compile=True; the shape compiled above is reused (one compile per process)."""
    src = core.bs.VideoSource(str(bikes))[140:152]
    clip = core.resize.Bicubic(src, 160, 68, format=vs.RGB24, matrix_in_s="709")
    out = adcvsr.Upscale(clip, compile=True, precision="fp32", device="cpu", window=4, overlap=0)
    ref = adcvsr.Upscale(clip, precision="fp32", device="cpu", window=4, overlap=0)
    assert (out.width, out.height, out.num_frames) == (640, 272, 12)
    for n in range(12):
        a = np.stack(frame_array(out.get_frame(n))).astype(int)
        b = np.stack(frame_array(ref.get_frame(n))).astype(int)
        assert np.abs(a - b).max() <= 1, n


def test_without_a_compiler_it_runs_eagerly_and_says_so(bikes, tmp_path):
    """A real failing compile ($CXX names no compiler): a warning on stderr and the eager frames."""
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, torch, torch.nn.functional as F\n"
        "from vsadcvsr.engine import Upscaler\n"
        "from vsadcvsr.material import read_video\n"
        f"x = torch.from_numpy(read_video({str(bikes)!r}, 140, 142)).permute(0, 3, 1, 2).float() / 255\n"
        "x = F.avg_pool2d(x, 8)\n"
        "up = Upscaler('default', precision='fp32', compile=True)\n"
        "ys = [up.upscale_window(x) for _ in range(3)]\n"
        "ref = Upscaler('default', precision='fp32').upscale_window(x)\n"
        "assert up.compiled.failed and not up.compiled.compiled, up.compiled.failed\n"
        "assert all((y - ref).abs().max().item() == 0 for y in ys)\n"
        "print('eager', up.compiled.failed)\n")
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler")}
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("eager "), r.stdout
    assert "compile: torch.compile failed (" in r.stderr and "the network runs without it" in r.stderr
