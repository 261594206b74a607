"""The two adapters agree (issue #13): the same untagged clip through `adcvsr.Upscale` (VapourSynth) and through
`upscale_file` (FFmpeg) gives the same frames within one 8-bit level.

Both convert YCbCr -> RGB for the network and back, each its own way (the engine's conversion, FFmpeg's scaler);
what must be the same is the convention: for untagged video the one default-matrix rule (mpv's: BT.709 if
width >= 1280 or height > 576, else BT.601). 1280x544 is the size where the two rules used to differ.

The network is a stand-in family registered here: a fixed random per-pixel colour mapping (two 1x1 convolutions
with a tanh between, as a network's colour response: not linear in RGB, so the RGB it is given matters; a linear
stand-in would hide a matrix mismatch, the matrix cancelling on the way back), then bicubic x4. The real networks
cost minutes per frame at these sizes on this CPU. The colour fix is off: it would put the input's low
frequencies back and hide the mapping. (Simulated in NumPy on the 1280x544 frame, the two matrices give
mean 1.6 / p99 4 levels apart through this mapping.) Real FFmpeg and real VapourSynth,
real camera frames (bikes.mp4) with the saturation raised so that conversions clip where matrices differ.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import vapoursynth as vs
from conftest_ffmpeg import BIKES, ff
from torch import nn

import vsadcvsr as adcvsr
from ffmpeg_filter import upscale_file
from vsadcvsr.checkpoint import save_checkpoint
from vsadcvsr.model.families import Family, register_family
from vsadcvsr.model.hints import EngineHints

KIND = "colour-map-test"
FRAMES = 1


@dataclass(frozen=True)
class ColourMapConfig:
    """Configuration of the stand-in family: a per-pixel colour mapping with `hidden` channels, then bicubic x4."""

    hidden: int = 16

    @property
    def scale(self) -> int:
        return 4

    @property
    def size_multiple(self) -> int:
        return 1

    def to_json(self) -> str:
        return json.dumps({"kind": KIND, "hidden": self.hidden})


class ColourMapNet(nn.Module):
    def __init__(self, cfg: ColourMapConfig) -> None:
        super().__init__()
        self.mix = nn.Conv2d(3, cfg.hidden, 1)
        self.out = nn.Conv2d(cfg.hidden, 3, 1)

    def forward(self, x: torch.Tensor, render_chunk: int = 0) -> torch.Tensor:
        b, t, c, h, w = x.shape
        z = x.reshape(b * t, c, h, w).float()
        z = z + 0.5 * self.out(torch.tanh(self.mix(z)))
        y = F.interpolate(z, scale_factor=4, mode="bicubic", align_corners=False)
        return y.reshape(b, t, c, 4 * h, 4 * w)


@pytest.fixture(scope="module")
def colour_map_ckpt(tmp_path_factory) -> Path:
    register_family(Family(KIND, ColourMapConfig, ColourMapNet, lambda cfg: EngineHints(scale=4)))
    cfg = ColourMapConfig()
    net = ColourMapNet(cfg)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        net.mix.weight.copy_(torch.randn(net.mix.weight.shape, generator=g))
        net.mix.bias.copy_(torch.randn(net.mix.bias.shape, generator=g) * 0.5)
        net.out.weight.copy_(torch.randn(net.out.weight.shape, generator=g) / 4)
        net.out.bias.zero_()
    path = tmp_path_factory.mktemp("bicubic") / "colour_map.safetensors"
    save_checkpoint(path, net.state_dict(), cfg, provenance="test stand-in", licence="n/a")
    return path


def untagged_clip(folder: Path, width: int, height: int) -> Path:
    """FRAMES saturated bikes frames at width x height, YUV 4:2:0, lossless, with no colour tags at all."""
    out = folder / f"untagged_{width}x{height}.mkv"
    ff("-i", str(BIKES), "-frames:v", str(FRAMES), "-vf", f"scale={width}:{height},hue=s=2.5,format=yuv420p",
       "-c:v", "ffv1", str(out))
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert (int(cc.colorspace or 2), int(cc.color_range or 0)) in ((2, 0), (2, 1), (0, 0))  # untagged
    return out


def yuv_planes(path: Path) -> list[list[np.ndarray]]:
    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            assert f.format.name == "yuv420p"
            out.append([np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width].copy()
                        for p in f.planes])
        return out


def vs_clip(planes: list[list[np.ndarray]]) -> vs.VideoNode:
    """A YUV420P8 clip of these planes, with no frame properties (untagged, like the file)."""
    h, w = planes[0][0].shape
    blank = vs.core.std.BlankClip(width=w, height=h, format=vs.YUV420P8, length=len(planes), keep=True)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        g = f.copy()
        for p in range(3):
            np.asarray(g[p])[:] = planes[n][p]
        for key in ("_Matrix", "_ColorRange", "_Primaries", "_Transfer"):
            if key in g.props:
                del g.props[key]
        return g

    return vs.core.std.ModifyFrame(blank, blank, fill)


@pytest.mark.parametrize("size", [(1280, 544), (720, 576), (320, 136)])
def test_an_untagged_clip_comes_out_alike_through_vapoursynth_and_ffmpeg(size, colour_map_ckpt, tmp_path):
    src = untagged_clip(tmp_path, *size)
    settings = dict(model=str(colour_map_ckpt), window=1, overlap=0, colour_fix="none")
    through_ffmpeg = upscale_file(src, tmp_path / "ffmpeg.mkv", device="cpu", progress=False,
                                  encoder_args=["-c:v", "ffv1"], **settings)
    a = yuv_planes(through_ffmpeg)
    out = adcvsr.Upscale(vs_clip(yuv_planes(src)), device="cpu", **settings)
    assert out.format.id == vs.YUV420P8
    b = [[np.asarray(f[p]).copy() for p in range(3)] for f in (out.get_frame(n) for n in range(FRAMES))]
    assert len(a) == len(b) == FRAMES
    diff = np.concatenate([np.abs(x.astype(int) - y.astype(int)).ravel()
                           for fa, fb in zip(a, b) for x, y in zip(fa, fb)])
    mean, p99 = float(diff.mean()), float(np.percentile(diff, 99))
    print(f"{size[0]}x{size[1]}: mean {mean:.3f}, p99 {p99:.0f}, max {diff.max()}, over 3: {(diff > 3).mean():.2%}")
    assert mean < 1.0 and p99 <= 3, (mean, p99)
