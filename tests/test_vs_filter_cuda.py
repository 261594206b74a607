"""The VapourSynth filter on a CUDA device: the same pictures as the CPU path, in every precision and stream count.

Every test here needs an NVIDIA GPU: without one they are skipped (see conftest.py), and the CPU path is what the
other test files cover.
"""
from __future__ import annotations

import concurrent.futures as cf

import numpy as np
import pytest
import vapoursynth as vs
from vs_clips import frame_array, gradient_clip

import vsadcvsr as adcvsr

pytestmark = pytest.mark.cuda


def _mean_diff(a: vs.VideoNode, b: vs.VideoNode, frames: tuple[int, ...] = (0, 3, 5)) -> float:
    fmt = a.format
    peak = 1.0 if fmt.sample_type == vs.FLOAT else float((1 << fmt.bits_per_sample) - 1)
    diffs = []
    for n in frames:
        for pa, pb in zip(frame_array(a.get_frame(n)), frame_array(b.get_frame(n))):
            diffs.append(np.abs(pa.astype(np.float64) - pb.astype(np.float64)).mean() / peak)
    return float(np.mean(diffs))


@pytest.mark.parametrize("fmt", [vs.YUV420P10, vs.YUV420P8, vs.RGB24, vs.RGBS])
def test_cuda_fp32_gives_the_cpu_picture(fmt: int, tiny_ckpt) -> None:
    clip = gradient_clip(fmt, w=64, h=48, smooth=True)
    kw = {"model": str(tiny_ckpt), "window": 4, "overlap": 1}
    cpu = adcvsr.Upscale(clip, device="cpu", **kw)
    gpu = adcvsr.Upscale(clip, device="cuda", precision="fp32", **kw)  # colour converted on the GPU
    assert (gpu.format.id, gpu.width, gpu.height) == (fmt, 256, 192)
    # the chroma resamplers differ (torch on CUDA vs zimg on the CPU), and fp32 convolutions are TF32 on CUDA:
    # measured on an H200, 0.012 for 8-bit 4:2:0 (1/255 = 0.004)
    assert _mean_diff(cpu, gpu) < 0.025
    gpu_zimg = adcvsr.Upscale(clip, device="cuda", precision="fp32", device_colour=False, **kw)
    assert _mean_diff(cpu, gpu_zimg) < 3e-3  # same conversion: only GPU arithmetic (TF32 convolutions) differs


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_cuda_half_precisions_stay_close_to_fp32(precision: str, tiny_ckpt) -> None:
    clip = gradient_clip(vs.YUV420P10, w=64, h=48, smooth=True)
    kw = {"model": str(tiny_ckpt), "window": 4, "overlap": 1, "device": "cuda"}
    ref = adcvsr.Upscale(clip, precision="fp32", **kw)
    half = adcvsr.Upscale(clip, precision=precision, **kw)
    assert _mean_diff(ref, half) < (0.01 if precision == "fp16" else 0.02)


def test_cuda_streams_give_the_same_frames_under_parallel_requests(tiny_ckpt) -> None:
    clip = gradient_clip(vs.YUV420P8, w=64, h=48, length=12)
    kw = {"model": str(tiny_ckpt), "window": 4, "overlap": 1, "device": "cuda", "precision": "fp32"}
    one = adcvsr.Upscale(clip, num_streams=1, **kw)
    two = adcvsr.Upscale(clip, num_streams=2, **kw)
    order = [11, 0, 7, 3, 9, 1, 5, 2, 10, 4, 8, 6]
    with cf.ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda n: frame_array(two.get_frame(n)), order))
    for n, planes in zip(order, got):
        for a, b in zip(frame_array(one.get_frame(n)), planes):
            assert np.abs(a.astype(np.int32) - b.astype(np.int32)).max() <= 1, n
