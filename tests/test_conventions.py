"""One rule for untagged video's matrix in every adapter (#13): mpv's, BT.709 when width >= 1280 or height > 576.

The old filter rule (height > 576 only) converted an untagged 1280x544 film as BT.601, the bridge as BT.709."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs
from vs_clips import frame_array

import vsadcvsr as adcvsr

core = vs.core


@pytest.fixture(scope="module")
def quick_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A very small random compact network: the test is about colour, not the model."""
    from vsadcvsr.checkpoint import save_checkpoint
    from vsadcvsr.model import CompactConfig, build_model

    cfg = CompactConfig(channels=4, convs=1, temporal="none", pad=2)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("quick") / "quick.safetensors"
    save_checkpoint(path, build_model(cfg).state_dict(), cfg, provenance="random weights for tests", licence="n/a")
    return path


def untagged_bikes(bikes: Path, width: int, height: int, frames: int = 1) -> vs.VideoNode:
    """Real camera frames (bikes.mp4, saturated jerseys) resized to `width`x`height`, YUV420P8, no colour tags."""
    src = core.bs.VideoSource(str(bikes))[40:40 + frames]
    clip = core.resize.Bicubic(src, width, height, format=vs.YUV420P8)
    return core.std.RemoveFrameProps(clip, ["_Matrix", "_Primaries", "_Transfer"])


@pytest.mark.parametrize("width,height,rule", [(1280, 544, vs.MATRIX_BT709), (720, 576, vs.MATRIX_ST170_M),
                                               (320, 136, vs.MATRIX_ST170_M)])
def test_untagged_clips_get_the_rules_matrix_in_the_filter(bikes: Path, quick_ckpt: Path, width: int, height: int,
                                                            rule: int) -> None:
    clip = untagged_bikes(bikes, width, height)
    assert "_Matrix" not in clip.get_frame(0).props
    kwargs = dict(model=str(quick_ckpt), window=1, overlap=0, colour_fix="none")
    other = vs.MATRIX_ST170_M if rule == vs.MATRIX_BT709 else vs.MATRIX_BT709
    out = adcvsr.Upscale(clip, **kwargs).get_frame(0)
    assert out.props["_Matrix"] == rule  # the output says which matrix it was read (and written) with
    untagged = frame_array(out)
    tagged = frame_array(adcvsr.Upscale(core.std.SetFrameProps(clip, _Matrix=rule), **kwargs).get_frame(0))
    wrong = frame_array(adcvsr.Upscale(core.std.SetFrameProps(clip, _Matrix=other), **kwargs).get_frame(0))
    assert all(np.array_equal(a, b) for a, b in zip(untagged, tagged))
    assert max(int(np.abs(a.astype(int) - b).max()) for a, b in zip(untagged, wrong)) >= 3  # the matrix matters


def test_a_cut_in_rgb_video_is_measured_on_luma_not_the_red_plane(quick_ckpt: Path) -> None:
    """One scene-cut measure (#13): BT.709 luma of the RGB the model sees. A cut that keeps the red plane and
    inverts green and blue is a new shot (the old filter measured RGB on plane 0, red, and missed it)."""
    from vs_clips import gradient_clip

    from vsadcvsr.engine.scenes import scene_difference

    a = gradient_clip(vs.RGB24, length=1) * 4  # a still shot: red changes nowhere
    b = core.std.Expr(a, ["x", "255 x -", "255 x -"])
    fa, fb = (torch.from_numpy(np.stack(frame_array(c.get_frame(3))).astype(np.float32) / 255) for c in (a, b))
    assert scene_difference(fa, fb) > 0.1 and float((fa[0] - fb[0]).abs().max()) == 0  # a cut; red the same
    kwargs = dict(model=str(quick_ckpt), window=8, overlap=0, scene_threshold=0.1, colour_fix="adain")
    whole = adcvsr.Upscale(a + b, **kwargs)  # adain: a window's statistics reach every frame of it
    alone = adcvsr.Upscale(b, **kwargs)
    assert all(np.array_equal(x, y) for x, y in zip(frame_array(whole.get_frame(5)), frame_array(alone.get_frame(1))))


def _bikes_untagged_file(bikes: Path, ffmpeg: str, path: Path, width: int, height: int) -> Path:
    """One bikes frame resized, YUV420P, lossless (FFV1) and without colour tags."""
    vf = (f"scale={width}:{height}:flags=bicubic,format=yuv420p,"
          "setparams=colorspace=unknown:color_primaries=unknown:color_trc=unknown:range=tv")
    subprocess.run([ffmpeg, "-v", "error", "-y", "-ss", "1.6", "-i", str(bikes), "-frames:v", "1", "-an", "-vf", vf,
                    "-c:v", "ffv1", str(path)], check=True)
    return path


@pytest.mark.parametrize("width,height,rule", [(1280, 544, vs.MATRIX_BT709), (320, 136, vs.MATRIX_ST170_M)])
def test_untagged_files_get_the_same_matrix_through_the_filter_and_the_bridge(
        tmp_path: Path, bikes: Path, quick_ckpt: Path, ffmpeg_exe: str, width: int, height: int, rule: int) -> None:
    """The same untagged file through `adcvsr.Upscale` and `adcvsr-ffmpeg`'s `upscale_file`: the bridge's frames are
    closer to the filter's with the rule's matrix than with the other one. (The two adapters' YUV<->RGB resamplers
    differ -- zimg-like here, swscale there -- by about one level in luma and 1-3 in chroma at the same matrix.)"""
    from ffmpeg_filter.bridge import upscale_file

    src = _bikes_untagged_file(bikes, ffmpeg_exe, tmp_path / "untagged.mkv", width, height)
    settings = dict(model=str(quick_ckpt), window=1, overlap=0, colour_fix="none")
    bridged = upscale_file(src, tmp_path / "bridge.mkv", encoder_args=["-c:v", "ffv1"], progress=False,
                           ffmpeg_path=ffmpeg_exe, **settings)
    other = core.bs.VideoSource(str(bridged))
    assert (other.width, other.height, other.format.id) == (4 * width, 4 * height, vs.YUV420P8)
    b = frame_array(other.get_frame(0))
    clip = core.bs.VideoSource(str(src))
    assert clip.get_frame(0).props.get("_Matrix", 2) == 2  # untagged
    wrong = vs.MATRIX_ST170_M if rule == vs.MATRIX_BT709 else vs.MATRIX_BT709
    distance = {}
    for name, c in (("rule", clip), ("wrong", core.std.SetFrameProps(clip, _Matrix=wrong))):
        a = frame_array(adcvsr.Upscale(c, **settings).get_frame(0))
        distance[name] = [float(np.abs(x.astype(int) - y.astype(int)).mean()) for x, y in zip(a, b)]
    assert max(distance["rule"]) < 3, distance
    assert sum(distance["rule"]) < sum(distance["wrong"]) - 0.5, distance
