"""Hardening (issue #14): weight files that would run code or give black video are refused; range kept and tagged."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs
from safetensors import safe_open
from safetensors.torch import save_file

from vsadcvsr.checkpoint import CheckpointError, load_model
from vsadcvsr.train.state_file import StateFileError, load_state_file

ROOT = Path(__file__).resolve().parents[1]
core = vs.core


# ------------------------------------------------------------------ item 9: non-finite weights refused at load

def _poisoned(src: Path, dst: Path, names: dict[str, float]) -> Path:
    """A copy of checkpoint `src` whose tensors `names` hold the given value (NaN, inf) at one element."""
    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata()
        state = {k: f.get_tensor(k) for k in f.keys()}
    for k, value in names.items():
        state[k] = state[k].clone()
        state[k].view(-1)[0] = value
    save_file(state, str(dst), metadata=meta)
    return dst


def _float_names(ckpt: Path, n: int) -> list[str]:
    with safe_open(str(ckpt), framework="pt") as f:
        return [k for k in f.keys() if f.get_slice(k).get_dtype().startswith("F")][:n]


def test_a_checkpoint_with_nan_or_inf_weights_is_refused_at_load_naming_the_tensors(tiny_ckpt: Path,
                                                                                      tmp_path: Path) -> None:
    a, b = _float_names(tiny_ckpt, 2)
    bad = _poisoned(tiny_ckpt, tmp_path / "nan.safetensors", {a: float("nan"), b: float("inf")})
    with pytest.raises(CheckpointError, match="non-finite") as e:
        load_model(bad)
    assert a in str(e.value) and b in str(e.value)
    load_model(tiny_ckpt)  # the clean file still loads


def test_upscale_refuses_a_nan_checkpoint_instead_of_giving_black_video(tiny_ckpt: Path, tmp_path: Path) -> None:
    import vsadcvsr

    (name,) = _float_names(tiny_ckpt, 1)
    bad = _poisoned(tiny_ckpt, tmp_path / "nan.safetensors", {name: float("nan")})
    clip = core.std.BlankClip(width=32, height=32, format=vs.RGB24, length=2)
    with pytest.raises(vs.Error, match=rf"adcvsr\.Upscale: .*non-finite.*{name}"):
        vsadcvsr.Upscale(clip, model=str(bad), device="cpu")


# ------------------------------------------------------------------ item 7: training states never unpickle code

class _RunsCode:
    """Pickles as a call of os.system: loading it with weights_only=False would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def _crafted_state(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "code_ran"
    path = tmp_path / "state.pt"
    torch.save({"config": "{}", "stage": 1, "step": 0, "gen": {}, "payload": _RunsCode(marker)}, path)
    return path, marker


def test_a_crafted_training_state_is_refused_without_running_its_code(tmp_path: Path) -> None:
    from vsadcvsr.train.export import export_state
    from vsadcvsr.train.validate import load_student

    path, marker = _crafted_state(tmp_path)
    for load in (load_state_file, load_student, lambda p: export_state(p, tmp_path / "out.safetensors")):
        with pytest.raises(StateFileError, match="posix.system") as e:
            load(path)
        assert "weights_only" not in str(e.value)
        assert not marker.exists()
    # the scripts that reach it: a message and exit 1, no traceback, nothing run
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for script in ("export_model.py", "check_psnr.py"):
        args = [str(path), str(tmp_path / "out.safetensors")] if script == "export_model.py" else [str(path)]
        r = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], capture_output=True, text=True,
                           env=env, timeout=300)
        assert r.returncode == 1, r.stderr[-2000:]
        assert "refused to load training state" in r.stderr and "Traceback" not in r.stderr
        assert not marker.exists()


def test_a_real_training_state_with_numpy_rng_still_loads(tmp_path: Path) -> None:
    import random

    state = {"gen": {"w": torch.ones(2)}, "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                                                    "python": random.getstate()}}
    torch.save(state, tmp_path / "state.pt")
    back = load_state_file(tmp_path / "state.pt")
    np.random.set_state(back["rng"]["numpy"])
    assert np.array_equal(back["rng"]["numpy"][1], state["rng"]["numpy"][1])


def test_import_adcsr_does_not_pass_on_torchs_advice_to_unpickle(tmp_path: Path) -> None:
    from vsadcvsr.adcsr_import import import_adcsr

    path, marker = _crafted_state(tmp_path)
    with pytest.raises(CheckpointError) as e:
        import_adcsr(path, path, tmp_path / "out.safetensors")
    assert "posix.system" in str(e.value)
    assert "weights_only" not in str(e.value) and "False" not in str(e.value)
    assert not marker.exists()


# ------------------------------------------------------------------ item 2: range carried and tagged right

def _bars(fmt: int, full: bool, w: int = 48, h: int = 32, length: int = 3) -> vs.VideoNode:
    """Black | grey | white bars (RGB 0 / 128 / 255) in `fmt`, in full or limited range, tagged so."""
    rgb = core.std.BlankClip(width=w, height=h, format=vs.RGB24, length=length, color=[0, 0, 0])
    grey = core.std.BlankClip(rgb, width=w // 3, color=[128, 128, 128])
    white = core.std.BlankClip(rgb, width=w - 2 * (w // 3), color=[255, 255, 255])
    rgb = core.std.StackHorizontal([rgb.std.Crop(right=w - w // 3), grey, white])
    if core.get_video_format(fmt).color_family == vs.RGB:
        return core.resize.Point(rgb, format=fmt)
    rng = vs.RANGE_FULL if full else vs.RANGE_LIMITED
    return core.resize.Point(rgb, format=fmt, matrix=vs.MATRIX_BT709, range=rng).std.SetFrameProps(_Range=rng)


def _levels(frame: vs.VideoFrame) -> tuple[float, float]:
    """(darkest, brightest) of the first plane (luma / R) in 8-bit units, bars' edges ignored."""
    bits = frame.format.bits_per_sample
    a = np.asarray(frame[0]).astype(np.float64) / (1 << (bits - 8))
    return float(np.percentile(a, 2)), float(np.percentile(a, 98))


def _range_cases() -> list[tuple[int, int | None, int, tuple[float, float]]]:
    """(input format, output format or None, expected _Range, expected (black, white) in 8-bit units)."""
    full, limited = (0.0, 255.0), (16.0, 235.0)
    keep = [(f, None, vs.RANGE_FULL, full) for f in (vs.GRAY8, vs.YUV420P8, vs.YUV444P8, vs.YUV420P10, vs.RGB24)]
    return keep + [
        (vs.YUV420P8, vs.RGB24, vs.RANGE_FULL, full),  # RGB is full range
        (vs.YUV420P8, vs.GRAY8, vs.RANGE_FULL, full),  # YUV/GRAY from YUV/GRAY keep the source's range
        (vs.YUV420P8, vs.YUV444P10, vs.RANGE_FULL, full),
        (vs.RGB24, vs.YUV420P8, vs.RANGE_LIMITED, limited),  # from RGB: limited
    ]


@pytest.mark.parametrize("device_colour", [False, True], ids=["resizer", "device_colour"])
def test_full_range_input_stays_full_range_and_is_tagged_so(device_colour: bool) -> None:
    import vsadcvsr

    wrong = []
    for src_fmt, out_fmt, want_range, (black, white) in _range_cases():
        clip = _bars(src_fmt, full=True)
        out = vsadcvsr.Upscale(clip, device="cpu", device_colour=device_colour, format=out_fmt)
        f = out.get_frame(1)
        lo, hi = _levels(f)
        name = f"{core.get_video_format(src_fmt).name} -> {f.format.name}"
        if int(f.props.get("_Range", -1)) != want_range:
            wrong.append(f"{name}: _Range {f.props.get('_Range')} != {want_range}")
        if abs(lo - black) > 3 or abs(hi - white) > 3:
            wrong.append(f"{name}: levels {lo:.1f}-{hi:.1f}, expected {black:.0f}-{white:.0f}")
    assert not wrong, "\n".join(wrong)


def test_limited_range_yuv_to_rgb_is_tagged_full() -> None:
    import vsadcvsr

    for device_colour in (False, True):
        out = vsadcvsr.Upscale(_bars(vs.YUV420P8, full=False), device="cpu", device_colour=device_colour,
                               format=vs.RGB24)
        f = out.get_frame(0)
        assert int(f.props["_Range"]) == vs.RANGE_FULL
        lo, hi = _levels(f)
        assert lo < 3 and hi > 252, (device_colour, lo, hi)


# ------------------------------------------------------------------ item 1: memory budgeted before anything runs

def _clip(w: int, h: int, n: int = 2) -> vs.VideoNode:
    return core.std.BlankClip(width=w, height=h, format=vs.YUV420P8, length=n)


def test_the_default_window_shrinks_to_fit_max_memory(caplog: pytest.LogCaptureFixture) -> None:
    import vsadcvsr

    with caplog.at_level("WARNING", logger="vsadcvsr"):
        vsadcvsr.Upscale(_clip(1280, 720), device="cpu", max_memory=4000)
    assert "1280x720 -> 5120x2880: windows of" in caplog.text and "4000 MiB" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="vsadcvsr"):
        vsadcvsr.Upscale(_clip(320, 180), device="cpu", max_memory=4000)  # 16 frames fit: nothing said
    assert "windows of" not in caplog.text


def test_a_window_that_does_not_fit_is_refused_naming_the_largest_that_does() -> None:
    import vsadcvsr

    with pytest.raises(vs.Error, match=r"adcvsr\.Upscale: window=16 at 1920x1080 -> 7680x4320 needs about \d+ MiB, "
                                       r"more than the 12000 MiB budget \(max_memory\); "
                                       r"the largest window that fits is \d+"):
        vsadcvsr.Upscale(_clip(1920, 1080), device="cpu", window=16, max_memory=12000)
    with pytest.raises(vs.Error, match="max_memory must be"):
        vsadcvsr.Upscale(_clip(64, 64), device="cpu", max_memory=-1)


def test_16k_output_is_refused_by_vspipe_with_a_message_not_killed(tmp_path: Path) -> None:
    """3840x2160 -> 15360x8640 needs ~16 GB even one frame at a time: refused before any frame is made."""
    script = tmp_path / "big.vpy"
    script.write_text("import vapoursynth as vs\nimport vsadcvsr\n"
                      "c = vs.core.std.BlankClip(width=3840, height=2160, format=vs.YUV420P8, length=4)\n"
                      "vsadcvsr.Upscale(c, device='cpu', max_memory=12000).set_output()\n")
    vspipe = Path(sys.executable).with_name("vspipe")
    r = subprocess.run([str(vspipe), "-c", "y4m", str(script), "-"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert "3840x2160 -> 15360x8640 needs about" in r.stderr and "1-frame windows" in r.stderr
    assert r.stdout == ""
