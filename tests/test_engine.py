"""The engine: window grid, cross-fade, scene cuts, tiles, streaming, precision and devices."""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from vsadcvsr.checkpoint import CheckpointError
from vsadcvsr.engine import FrameAssembler, Upscaler, WindowGrid, upscale_stream
from vsadcvsr.engine.colour_fix import bicubic_up, colour_fix_mode, match_statistics, wavelet_fix, wavelet_low
from vsadcvsr.engine.device import resolve_device, resolve_precision
from vsadcvsr.engine.tiles import run_tiled
from vsadcvsr.engine.windows import split_at_cuts


@pytest.mark.parametrize("window,overlap", [(16, 4), (5, 2), (7, 0), (1, 0)])
def test_every_frame_is_covered_and_cross_fade_weights_sum_to_one(window: int, overlap: int) -> None:
    grid = WindowGrid(window, overlap)
    for n in range(60):
        ks = grid.covering(n)
        assert 1 <= len(ks) <= 2
        assert all(n in grid.span(k, 60) for k in ks)
        assert abs(sum(grid.weight(k, n) for k in ks) - 1) < 1e-12


def test_window_grid_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="overlap"):
        WindowGrid(4, 3)
    with pytest.raises(ValueError, match="window"):
        WindowGrid(0, 0)


def test_cuts_split_a_window_into_pieces_of_one_shot() -> None:
    assert split_at_cuts(range(10, 16), [False, False, True, False, False, True]) == [
        range(10, 12), range(12, 15), range(15, 16)]
    assert split_at_cuts(range(0, 3), [True, False, False]) == [range(0, 3)]  # a cut at the start splits nothing


def _mean_upscaler(frames: torch.Tensor) -> torch.Tensor:
    """A stand-in temporal 'model' whose every output frame depends on all frames of its window."""
    return F.interpolate(frames, scale_factor=2, mode="nearest") * 0.5 + frames.mean(0, keepdim=True).repeat_interleave(
        2, -1).repeat_interleave(2, -2) * 0.5


def _assembler(video: torch.Tensor, grid: WindowGrid, cuts: set[int] = frozenset()) -> FrameAssembler:
    def load(span: range):
        return video[span.start : span.stop], [i in cuts for i in span]

    return FrameAssembler(_mean_upscaler, grid, video.shape[0], load, cache_windows=2)


def test_frame_n_is_the_same_in_any_request_order() -> None:
    video = torch.rand(40, 3, 8, 8)
    grid = WindowGrid(8, 3)
    forward = [_assembler(video, grid).frame(n) for n in range(40)]
    a = _assembler(video, grid)
    order = list(range(40))
    random.Random(1).shuffle(order)
    shuffled = {n: a.frame(n) for n in order}
    b = _assembler(video, grid)
    backward = {n: b.frame(n) for n in reversed(range(40))}
    for n in range(40):
        assert torch.equal(forward[n], shuffled[n]) and torch.equal(forward[n], backward[n])


def test_no_window_mixes_two_shots() -> None:
    video = torch.cat([torch.zeros(10, 3, 4, 4), torch.ones(10, 3, 4, 4)])
    a = _assembler(video, WindowGrid(8, 2), cuts={10})
    for n in range(20):
        expected = 0.0 if n < 10 else 1.0
        assert torch.allclose(a.frame(n), torch.full((3, 8, 8), expected))


def test_cache_holds_a_bounded_number_of_windows() -> None:
    video = torch.rand(200, 3, 4, 4)
    a = _assembler(video, WindowGrid(8, 2))
    for n in range(200):
        a.frame(n)
        assert len(a._windows) <= 2


def test_tiles_blend_without_seams() -> None:
    x = torch.rand(2, 3, 70, 90)
    fn = lambda t: F.interpolate(t, scale_factor=4, mode="nearest")  # noqa: E731 - position-independent
    assert (run_tiled(fn, x, tile=32, overlap=8, scale=4, multiple=16) - fn(x)).abs().max() < 1e-6
    assert (run_tiled(fn, x, tile=16, overlap=12, scale=4, multiple=16) - fn(x)).abs().max() < 1e-6


def test_colour_fix_matches_window_statistics() -> None:
    out = torch.randn(4, 3, 32, 32) * 3 + 2
    ref = torch.rand(4, 3, 8, 8)
    fixed = match_statistics(out, ref)
    assert torch.allclose(fixed.mean((0, 2, 3)), ref.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(fixed.std((0, 2, 3)), ref.std((0, 2, 3)), atol=1e-4)


def test_wavelet_fix_takes_low_frequencies_from_the_input_and_keeps_the_details() -> None:
    lr = torch.rand(2, 3, 24, 32)
    up = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    yy, xx = torch.meshgrid(torch.arange(96), torch.arange(128), indexing="ij")
    detail = 0.1 * ((yy + xx) % 2 * 2 - 1).float()  # a one-pixel checkerboard: pure high frequency
    cast = torch.tensor([0.2, -0.1, 0.05]).view(1, 3, 1, 1) + 0.1 * (xx / 128.0)  # colour cast and a slow ramp
    fixed = wavelet_fix(up + detail + cast, lr)
    assert (fixed - (up + detail)).abs().mean() < 0.01  # the cast is gone, the checkerboard stays
    assert (wavelet_low(detail[None, None].expand(1, 3, -1, -1)).abs().max()) < 0.01  # the low-pass drops it
    assert (wavelet_fix(up, lr) - up).abs().max() < 1e-5  # the input's own upscale is left as it is


def _wavelet_fix_reference(out: torch.Tensor, lr: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """StableSR / AdcSR's formulation: depthwise 3x3 binomial convolutions, replicate-padded, low-passed twice."""
    k = (torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16).expand(3, 1, 3, 3)

    def low(x: torch.Tensor) -> torch.Tensor:
        for i in range(levels):
            d = 2**i
            x = F.conv2d(F.pad(x, (d, d, d, d), mode="replicate"), k, groups=3, dilation=d)
        return x

    ref = F.interpolate(lr, size=out.shape[-2:], mode="bicubic", align_corners=False)
    return out - low(out) + low(ref)


@pytest.mark.parametrize("size", [(24, 32), (3, 5), (1, 2), (2, 3)])  # small: pads larger than the frame
def test_wavelet_fix_equals_the_reference_formulation(size: tuple[int, int]) -> None:
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(2, 3, *size, generator=g)
    out = torch.rand(2, 3, size[0] * 4, size[1] * 4, generator=g) * 1.4 - 0.2
    assert (wavelet_fix(out, lr) - _wavelet_fix_reference(out, lr)).abs().max() < 1e-5
    lr_before, out_before = lr.clone(), out.clone()
    fixed = wavelet_fix(out, lr)
    assert torch.equal(lr, lr_before) and torch.equal(out, out_before)  # inputs are not modified
    assert wavelet_fix(out, lr, in_place=True) is out and torch.equal(out, fixed)  # unless asked
    assert torch.equal(lr, lr_before)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("size", [(24, 32), (1, 2), (3, 1), (5, 7)])
def test_bicubic_up_equals_torch_bicubic(scale: int, size: tuple[int, int]) -> None:
    lr = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(scale)) * 2 - 1
    ref = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)
    assert (bicubic_up(lr, scale) - ref).abs().max() < 1e-5  # torch rounds 1/3 in its source positions


def test_wavelet_fix_passes_gradients_like_the_reference() -> None:
    lr = torch.rand(1, 3, 8, 8)
    out = torch.rand(1, 3, 32, 32, requires_grad=True)
    w = torch.rand(1, 3, 32, 32)
    (g_new,) = torch.autograd.grad((wavelet_fix(out, lr) * w).sum(), out)
    (g_ref,) = torch.autograd.grad((_wavelet_fix_reference(out, lr) * w).sum(), out)
    assert torch.allclose(g_new, g_ref, atol=1e-6)


def test_colour_fix_modes() -> None:
    assert colour_fix_mode(True) == "wavelet" and colour_fix_mode(False) == "none"
    assert colour_fix_mode("adain") == "adain"
    with pytest.raises(ValueError, match="colour_fix must be"):
        colour_fix_mode("sharpen")


def test_upscaler_colour_fix_modes_differ_and_none_is_the_raw_network(tiny_ckpt) -> None:
    x = torch.rand(3, 3, 32, 48)
    outs = {m: Upscaler(tiny_ckpt, colour_fix=m).upscale_window(x) for m in ("wavelet", "adain", "none")}
    raw = Upscaler(tiny_ckpt, colour_fix=False).upscale_window(x)
    assert torch.equal(outs["none"], raw)
    assert torch.equal(Upscaler(tiny_ckpt).upscale_window(x), outs["wavelet"])  # the default
    assert (outs["wavelet"] - outs["adain"]).abs().mean() > 1e-3
    with pytest.raises(ValueError, match="colour_fix"):
        Upscaler(tiny_ckpt, colour_fix="sharpen")


def test_devices_and_precisions_are_checked() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_precision("auto", torch.device("cpu")) == torch.float32
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8", torch.device("cpu"))
    with pytest.raises(ValueError, match="unsupported device|unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_unknown_model_and_missing_checkpoint_are_named(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="unknown model 'nonsense'"):
        Upscaler("nonsense")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        Upscaler(tmp_path / "missing.safetensors")


def test_upscaler_gives_four_times_the_size_in_range(tiny_ckpt) -> None:
    up = Upscaler(tiny_ckpt)
    y = up.upscale_window(torch.rand(3, 3, 20, 36))
    assert y.shape == (3, 3, 80, 144) and y.dtype == torch.float32
    assert 0 <= y.min() and y.max() <= 1


def test_upscaler_is_deterministic(tiny_ckpt) -> None:
    up = Upscaler(tiny_ckpt)
    x = torch.rand(3, 3, 24, 24)
    assert torch.equal(up.upscale_window(x), up.upscale_window(x))


def test_models_are_shared_between_upscalers(tiny_ckpt) -> None:
    assert Upscaler(tiny_ckpt).model is Upscaler(tiny_ckpt, tile=64).model


def test_tiled_and_untiled_model_output_agree(tiny_ckpt) -> None:
    # Random weights make GroupNorm statistics (per tile) matter far more than trained ones; the bound is loose.
    x = F.interpolate(torch.rand(2, 3, 10, 12), size=(64, 80), mode="bicubic").clamp(0, 1)
    whole = Upscaler(tiny_ckpt, colour_fix=False).upscale_window(x)
    tiled = Upscaler(tiny_ckpt, tile=48, tile_overlap=16, colour_fix=False).upscale_window(x)
    assert (whole - tiled).abs().mean() < 0.05


def test_stream_equals_random_access_and_keeps_memory_bounded(tiny_ckpt) -> None:
    up = Upscaler(tiny_ckpt)
    video = torch.rand(19, 3, 16, 24)
    seen = []

    def frames():
        for i in range(19):
            seen.append(i)
            yield video[i]

    out = []
    for n, y in enumerate(upscale_stream(frames(), up, window=6, overlap=2, scene_threshold=0)):
        assert len(seen) - n <= 6 + 2  # reads ahead no further than the current frame's windows
        out.append(y)
    assert len(out) == 19
    a = FrameAssembler(up.upscale_window, WindowGrid(6, 2), 19, lambda r: (video[r.start:r.stop], [False] * len(r)))
    for n in random.Random(0).sample(range(19), 19):
        assert torch.equal(a.frame(n), out[n])


def test_stream_detects_scene_cuts() -> None:
    video = torch.cat([torch.zeros(7, 3, 4, 4), torch.ones(7, 3, 4, 4)])

    class Fake:
        def upscale_window(self, frames: torch.Tensor) -> torch.Tensor:
            return _mean_upscaler(frames)

    out = list(upscale_stream(iter(video), Fake(), window=6, overlap=2, scene_threshold=0.3))  # type: ignore[arg-type]
    assert len(out) == 14
    assert all(torch.allclose(o, torch.full_like(o, 0.0 if i < 7 else 1.0)) for i, o in enumerate(out))


def test_empty_stream_gives_nothing(tiny_ckpt) -> None:
    assert list(upscale_stream(iter([]), Upscaler(tiny_ckpt))) == []


@pytest.mark.cuda
def test_cuda_upscaler_matches_cpu(tiny_ckpt) -> None:
    x = torch.rand(3, 3, 32, 48)
    cpu = Upscaler(tiny_ckpt, device="cpu").upscale_window(x)
    gpu = Upscaler(tiny_ckpt, device="cuda", precision="fp32").upscale_window(x).cpu()
    # fp32 on CUDA runs cuDNN's TF32 convolutions (PyTorch's default): measured on an H200, max 0.0057
    assert (cpu - gpu).abs().max() < 2e-2 and (cpu - gpu).abs().mean() < 1e-3
    half = Upscaler(tiny_ckpt, device="cuda", precision="fp16").upscale_window(x).cpu()
    assert torch.isfinite(half).all() and (cpu - half).abs().mean() < 1e-2


def test_tiled_and_untiled_output_of_the_trained_default_model_agree(bikes) -> None:
    import av

    from vsadcvsr.checkpoint import BUNDLED, WEIGHTS_DIR

    assert (WEIGHTS_DIR / BUNDLED["default"]).is_file(), "the default model ships with the package"
    with av.open(str(bikes)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(144), c.decode(video=0))][140:144]
    x = F.interpolate(torch.from_numpy(__import__("numpy").stack(frames)).permute(0, 3, 1, 2).float() / 255,
                      scale_factor=0.25, mode="area")  # 160x68, a real camera clip
    whole = Upscaler("default").upscale_window(x)
    tiled = Upscaler("default", tile=48, tile_overlap=32).upscale_window(x)
    psnr = 10 * torch.log10(1 / ((whole - tiled) ** 2).mean())
    # GroupNorm statistics are per tile, so tiles are not bit-exact: measured 36.5 dB, mean |diff| 0.011.
    assert psnr > 33 and (whole - tiled).abs().mean() < 0.02
