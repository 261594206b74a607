"""The VapourSynth filter: formats, props, errors, order independence, and real vspipe → encoder runs."""
from __future__ import annotations

import random
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
import vapoursynth as vs
from vs_clips import frame_array, gradient_clip

import vsadcvsr as adcvsr

core = vs.core
ROOT = Path(__file__).resolve().parents[1]


FORMATS = [vs.GRAY8, vs.YUV420P8, vs.YUV420P10, vs.YUV422P8, vs.YUV444P16, vs.YUV444PH, vs.RGB24, vs.RGB48, vs.RGBS]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: core.get_video_format(f).name)
def test_output_keeps_format_rate_and_length_at_four_times_the_size(fmt: int, tiny_ckpt) -> None:
    clip = core.std.AssumeFPS(gradient_clip(fmt), fpsnum=24000, fpsden=1001)
    out = adcvsr.Upscale(clip, model=str(tiny_ckpt), window=4, overlap=1)
    assert (out.format.id, out.width, out.height) == (fmt, 160, 96)
    assert (out.num_frames, out.fps) == (clip.num_frames, clip.fps)
    planes = frame_array(out.get_frame(3))
    assert planes[0].shape == (96, 160)
    if core.get_video_format(fmt).sample_type == vs.INTEGER:
        assert planes[0].std() > 0  # real picture content, not a blank frame


@pytest.mark.parametrize("fmt", [vs.YUV420P10, vs.RGB24, vs.GRAY16])
def test_colour_on_the_device_agrees_with_vapoursynths_resizer(fmt: int, tiny_ckpt) -> None:
    clip = gradient_clip(fmt, smooth=True)
    a = adcvsr.Upscale(clip, model=str(tiny_ckpt), window=3, overlap=1, device_colour=True)
    b = adcvsr.Upscale(clip, model=str(tiny_ckpt), window=3, overlap=1, device_colour=False)
    peak = (1 << clip.format.bits_per_sample) - 1
    for n in (0, 4):
        for pa, pb in zip(frame_array(a.get_frame(n)), frame_array(b.get_frame(n))):
            diff = np.abs(pa.astype(np.float64) - pb.astype(np.float64)) / peak
            assert diff.mean() < 0.01  # two chroma resamplers (Catmull-Rom vs Spline36), same picture


def test_frame_props_are_kept(tiny_ckpt) -> None:
    clip = core.std.SetFrameProps(gradient_clip(vs.YUV420P8), _SARNum=4, _SARDen=3, _Matrix=1, _Range=0,
                                  _Primaries=1, _Transfer=1, Custom="kept")
    props = adcvsr.Upscale(clip, model=str(tiny_ckpt), window=3, overlap=1).get_frame(2).props
    assert (props["_SARNum"], props["_SARDen"], props["_Matrix"], props["_Range"]) == (4, 3, 1, 0)
    assert (props["_Primaries"], props["_Transfer"]) == (1, 1)
    assert props["Custom"] == b"kept" or props["Custom"] == "kept"
    assert not any(k.startswith("AdcVSRStats") for k in props)


def test_other_format_and_size_on_request(tiny_ckpt) -> None:
    clip = gradient_clip(vs.YUV420P8)
    out = adcvsr.Upscale(clip, model=str(tiny_ckpt), window=3, overlap=1, format=vs.RGBS, width=100, height=60)
    assert (out.format.id, out.width, out.height) == (vs.RGBS, 100, 60)
    assert out.get_frame(0).props["_Matrix"] == 0
    yuv = adcvsr.Upscale(gradient_clip(vs.RGB24), model=str(tiny_ckpt), window=3, overlap=1, format=vs.YUV420P10)
    assert yuv.format.id == vs.YUV420P10 and yuv.get_frame(0).props["_Matrix"] == 1


def test_frame_n_is_the_same_whatever_the_request_order(tiny_ckpt) -> None:
    clip = gradient_clip(vs.YUV420P8, length=17)
    make = lambda: adcvsr.Upscale(clip, model=str(tiny_ckpt), window=5, overlap=2)  # noqa: E731
    ordered = [frame_array(f) for f in make().frames()]
    rev = make()
    reverse = {n: frame_array(rev.get_frame(n)) for n in reversed(range(17))}
    rnd = make()
    order = list(range(17))
    random.Random(3).shuffle(order)
    shuffled = {n: frame_array(rnd.get_frame(n)) for n in order}
    for n in range(17):
        for a, b, c in zip(ordered[n], reverse[n], shuffled[n]):
            assert np.array_equal(a, b) and np.array_equal(a, c)


def test_parallel_requests_give_the_same_frames(tiny_ckpt) -> None:
    clip = gradient_clip(vs.RGB24, length=12)
    out = adcvsr.Upscale(clip, model=str(tiny_ckpt), window=4, overlap=1)
    futures = [out.get_frame_async(n) for n in range(12)]
    parallel = [frame_array(f.result()) for f in futures]
    serial = adcvsr.Upscale(clip, model=str(tiny_ckpt), window=4, overlap=1)
    for n in (0, 5, 11):
        assert all(np.array_equal(a, b) for a, b in zip(parallel[n], frame_array(serial.get_frame(n))))


def test_scene_change_props_end_a_window(tiny_ckpt) -> None:
    a, b = gradient_clip(vs.RGB24, length=4), core.std.Invert(gradient_clip(vs.RGB24, length=4))
    joined = core.std.SetFrameProps(a + b, _SceneChangePrev=0)
    joined = core.std.Splice([joined[:4], core.std.SetFrameProps(joined[4], _SceneChangePrev=1), joined[5:]])
    kwargs = dict(model=str(tiny_ckpt), window=8, overlap=0, scene_threshold=0)
    whole = adcvsr.Upscale(joined, **kwargs)
    second_alone = adcvsr.Upscale(b, **kwargs)
    alone = frame_array(second_alone.get_frame(2))
    assert all(np.array_equal(x, y) for x, y in zip(frame_array(whole.get_frame(6)), alone))
    no_cut = adcvsr.Upscale(a + b, **kwargs)  # without the prop (and detection off) the window mixes both shots
    assert not all(np.array_equal(x, y) for x, y in zip(frame_array(no_cut.get_frame(6)), alone))


def test_scene_cuts_are_detected_with_planestats(tiny_ckpt) -> None:
    a, b = gradient_clip(vs.YUV420P8, length=4), core.std.Invert(gradient_clip(vs.YUV420P8, length=4))
    kwargs = dict(model=str(tiny_ckpt), window=8, overlap=0)
    whole = adcvsr.Upscale(a + b, scene_threshold=0.1, **kwargs)
    alone = adcvsr.Upscale(b, scene_threshold=0.1, **kwargs)
    assert all(np.array_equal(x, y) for x, y in zip(frame_array(whole.get_frame(5)), frame_array(alone.get_frame(1))))


def _variable_format() -> vs.VideoNode:
    return core.std.Splice([core.std.BlankClip(format=vs.YUV420P8, length=2),
                            core.std.BlankClip(format=vs.RGB24, length=2)], mismatch=True)


def _variable_size() -> vs.VideoNode:
    return core.std.Splice([core.std.BlankClip(width=64, height=48, length=2),
                            core.std.BlankClip(width=32, height=48, length=2)], mismatch=True)


@pytest.mark.parametrize(
    "make_clip,kwargs,message",
    [
        (_variable_format, {}, "variable-format input clips are not supported"),
        (_variable_size, {}, "variable-size clips are not supported"),
        (lambda: core.std.BlankClip(format=vs.YUV410P8, width=64, height=64), {}, "only 4:4:4, 4:2:2 and 4:2:0"),
        (lambda: core.std.BlankClip(format=vs.YUV420P8, width=8, height=8), {}, "too small"),
        (lambda: core.std.BlankClip(format=vs.RGB24), {"model": "nonsense"}, "unknown model 'nonsense'"),
        (lambda: core.std.BlankClip(format=vs.RGB24), {"model": "/nowhere/x.safetensors"}, "checkpoint not found"),
        (lambda: core.std.BlankClip(format=vs.RGB24), {"overlap": 9}, "overlap must be between 0 and window/2"),
        (lambda: core.std.BlankClip(format=vs.RGB24), {"precision": "fp8"}, "unknown precision"),
        (lambda: core.std.BlankClip(format=vs.RGB24), {"colour_fix": "sharpen"},
         "colour_fix must be True, False or one"),
        (lambda: core.std.BlankClip(format=vs.RGB24), {"format": vs.YUV410P8}, "output format"),
        (lambda: 42, {}, "this is not a clip"),
        (lambda: core.std.BlankClip(format=vs.RGB24), {"window": "16"}, "window must be an integer, not '16' (str)"),
        (lambda: core.std.BlankClip(format=vs.RGB24), {"tile": 16}, "tile (16x16) must be larger than tile_overlap"),
        (lambda: core.std.BlankClip(format=vs.RGB24), {"tile": "big"}, "tile must be an integer or a (width, height)"),
        (lambda: core.std.BlankClip(format=vs.RGB24), {"max_memory": -1}, "max_memory must be at least 0"),
        (lambda: core.std.BlankClip(format=vs.YUV420P8), {"width": 641}, "width 641 is not a multiple of 2"),
        (lambda: core.std.BlankClip(format=vs.RGB24), {"format": vs.YUV420P8, "height": 481},
         "height 481 is not a multiple of 2"),
        (lambda: core.std.BlankClip(format=vs.RGB24), {"width": "640"}, "width must be an integer, not '640' (str)"),
    ],
)
def test_bad_input_is_a_clear_vs_error(make_clip, kwargs, message: str, tiny_ckpt) -> None:
    kwargs = {"model": str(tiny_ckpt), **kwargs}
    with pytest.raises(vs.Error, match=r"^adcvsr\.Upscale: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        adcvsr.Upscale(make_clip(), **kwargs)


def test_tile_as_a_width_height_list_tiles_like_vsrealesrgan(tiny_ckpt) -> None:
    clip = gradient_clip(vs.RGB24, w=40, h=24, length=3)
    kwargs = dict(model=str(tiny_ckpt), window=3, overlap=1, colour_fix="none")
    whole = frame_array(adcvsr.Upscale(clip, **kwargs).get_frame(1))
    tiled = adcvsr.Upscale(clip, tile=[24, 16], tile_overlap=8, **kwargs)
    planes = frame_array(tiled.get_frame(1))
    assert planes[0].shape == (96, 160)
    assert not all(np.array_equal(a, b) for a, b in zip(planes, whole))  # really tiled


@pytest.mark.parametrize("mode", ["wavelet", "adain", "none"])
def test_colour_fix_modes_by_name(mode: str, tiny_ckpt) -> None:
    clip = gradient_clip(vs.YUV420P8, smooth=True)
    out = adcvsr.Upscale(clip, model=str(tiny_ckpt), window=3, overlap=1, colour_fix=mode)
    ref = adcvsr.Upscale(clip, model=str(tiny_ckpt), window=3, overlap=1, colour_fix=mode != "none")
    planes = frame_array(out.get_frame(2))
    assert planes[0].shape == (96, 160) and planes[0].std() > 0
    if mode != "adain":  # True is "wavelet", False is "none"
        assert all(np.array_equal(a, b) for a, b in zip(planes, frame_array(ref.get_frame(2))))


def test_default_model_is_bundled_and_runs() -> None:
    from vsadcvsr.checkpoint import BUNDLED, WEIGHTS_DIR

    assert (WEIGHTS_DIR / BUNDLED["default"]).is_file(), "the default model ships inside the package"
    clip = adcvsr.Upscale(core.std.BlankClip(format=vs.RGB24, width=32, height=32, length=2))
    assert clip.width == 128 and clip.get_frame(1).width == 128


def test_interlaced_frames_are_refused(tiny_ckpt) -> None:
    clip = core.std.SetFrameProps(gradient_clip(vs.YUV420P8), _FieldBased=2)
    out = adcvsr.Upscale(clip, model=str(tiny_ckpt), window=3, overlap=1)
    with pytest.raises(vs.Error, match="interlaced"):
        out.get_frame(0)


def test_vspipe_to_a_real_encoder_gives_a_decodable_video(tmp_path, bikes, vs_env, vspipe, ffmpeg_exe,
                                                          tiny_ckpt) -> None:
    out = tmp_path / "out.mkv"
    pipe = subprocess.Popen(
        [vspipe, "-c", "y4m", "-a", f"source={bikes}", "-a", "start=140", "-a", "end=146", "-a", f"model={tiny_ckpt}",
         "-a", "window=4", "-a", "overlap=1", str(ROOT / "examples" / "upscale.vpy"), "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=vs_env,
    )
    enc = subprocess.run(
        [ffmpeg_exe, "-v", "error", "-f", "yuv4mpegpipe", "-i", "-", "-c:v", "libx265", "-preset", "ultrafast",
         "-x265-params", "log-level=error", str(out)],
        stdin=pipe.stdout, capture_output=True,
    )
    pipe.stdout.close()
    err = pipe.stderr.read().decode()
    assert pipe.wait() == 0, err
    assert enc.returncode == 0, enc.stderr.decode()
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 6
    assert (frames[0].width, frames[0].height) == (2560, 1088)
    assert frames[0].format.name == "yuv420p10le"


def test_vspipe_output_equals_in_process_frames(tmp_path, vs_env, vspipe, tiny_ckpt) -> None:
    script = tmp_path / "s.vpy"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import vapoursynth as vs\nimport vsadcvsr as adcvsr\nfrom test_vs_filter import gradient_clip\n"
        f"adcvsr.Upscale(gradient_clip(vs.YUV444P8, 32, 24, 7), model={str(tiny_ckpt)!r}, window=3, overlap=1)"
        ".set_output()\n"
    )
    raw = subprocess.run([vspipe, str(script), "-"], capture_output=True, env=vs_env)
    assert raw.returncode == 0, raw.stderr.decode()
    ref = adcvsr.Upscale(gradient_clip(vs.YUV444P8, 32, 24, 7), model=str(tiny_ckpt), window=3, overlap=1)
    expected = b"".join(np.ascontiguousarray(p).tobytes() for f in ref.frames() for p in frame_array(f))
    assert raw.stdout == expected  # nothing but video on stdout, identical to in-process frames
