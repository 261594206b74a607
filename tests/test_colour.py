"""The engine's colour layer: planes <-> RGB in [0, 1], and host planes <-> tensors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from vsadcvsr.engine.colour import (
    PlaneFormat,
    default_matrix,
    full_range_from_props,
    luma,
    matrix_from_props,
    planes_to_rgb,
    rgb_to_planes,
)
from vsadcvsr.engine.transfer import plane_to_tensor, tensor_to_plane

MATRICES = ["bt601", "bt709", "bt2020"]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (torch.cuda.is_available() is false)")


def random_rgb(h: int = 8, w: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed))


def smooth_rgb(h: int = 32, w: int = 48) -> torch.Tensor:
    """Low-frequency colour image: every channel varies over the whole frame, none leaves [0.1, 0.9]."""
    y = torch.linspace(0, 1, h)[:, None]
    x = torch.linspace(0, 1, w)[None, :]
    return torch.stack((
        0.5 + 0.4 * torch.sin(2.0 * x + 1.0 * y),
        0.5 + 0.4 * torch.cos(1.5 * x - 2.0 * y),
        0.5 + 0.4 * torch.sin(1.0 * x * y + 0.5 * x - 1.5 * y),
    ))


def lsb(fmt: PlaneFormat) -> float:
    """One code value of luma, normalised."""
    if fmt.is_float:
        return 1e-6 if fmt.bits == 32 else 1e-3
    if fmt.family == "rgb" or fmt.full_range:
        return 1.0 / ((1 << fmt.bits) - 1)
    return 1.0 / (219 << (fmt.bits - 8))


def codes(planes: list[torch.Tensor]) -> list[list[int]]:
    return [p.to(torch.int32).flatten().tolist() for p in planes]


# --- round trips ---------------------------------------------------------------------------------------------

YUV444 = [PlaneFormat("yuv", b, False, (0, 0), m, fr) for m in MATRICES for b in (8, 10, 16) for fr in (False, True)]
YUV444 += [PlaneFormat("yuv", 32, True, (0, 0), m) for m in MATRICES]
RGB = [PlaneFormat("rgb", b, b == 32) for b in (8, 10, 16, 32)]


@pytest.mark.parametrize("fmt", YUV444 + RGB, ids=repr)
def test_round_trip_without_subsampling_is_exact_within_quantisation(fmt: PlaneFormat) -> None:
    rgb = random_rgb()
    back = planes_to_rgb(rgb_to_planes(rgb, fmt), fmt)
    # Half a code in Y plus half a code in the chroma that feeds a channel most (2 (1 - Kb) / 224 * 219 < 1.9).
    bound = 0.5 * lsb(fmt) * (1.0 if fmt.family == "rgb" else 2.9)
    assert back.dtype == torch.float32 and back.shape == rgb.shape
    assert (back - rgb).abs().max().item() <= bound + 1e-6


@pytest.mark.parametrize("fmt", [f for f in YUV444 if not f.is_float] + RGB[:3], ids=repr)
def test_planes_survive_a_second_round_trip(fmt: PlaneFormat) -> None:
    planes = rgb_to_planes(random_rgb(seed=1), fmt)
    again = rgb_to_planes(planes_to_rgb(planes, fmt), fmt)
    for p, q in zip(planes, again):
        assert (p.to(torch.int32) - q.to(torch.int32)).abs().max().item() <= 1


@pytest.mark.parametrize("bits,is_float", [(8, False), (10, False), (16, False), (32, True)])
@pytest.mark.parametrize("full_range", [False, True])
def test_gray_round_trip_keeps_grey_pixels(bits: int, is_float: bool, full_range: bool) -> None:
    fmt = PlaneFormat("gray", bits, is_float, full_range=full_range)
    grey = torch.rand(1, 8, 12, generator=torch.Generator().manual_seed(2)).expand(3, 8, 12)
    planes = rgb_to_planes(grey, fmt)
    assert len(planes) == 1
    back = planes_to_rgb(planes, fmt)
    assert (back - grey).abs().max().item() <= 0.5 * lsb(fmt) + 1e-6
    assert torch.equal(back[0], back[1]) and torch.equal(back[1], back[2])


SUBSAMPLED = [
    PlaneFormat("yuv", b, b == 32, sub, "bt709", chroma_left=left)
    for b in (8, 10, 32) for sub in ((1, 1), (1, 0)) for left in (True, False)
]


@pytest.mark.parametrize("fmt", SUBSAMPLED, ids=repr)
def test_subsampled_round_trip_of_a_smooth_image_is_close(fmt: PlaneFormat) -> None:
    rgb = smooth_rgb()
    planes = rgb_to_planes(rgb, fmt)
    sw, sh = fmt.subsampling
    assert [tuple(p.shape) for p in planes] == [(32, 48), (32 >> sh, 48 >> sw), (32 >> sh, 48 >> sw)]
    err = (planes_to_rgb(planes, fmt) - rgb).abs()
    # Inside: chroma curvature plus 8-bit quantisation. On the last row/column the mirrored edge holds the
    # chroma flat, so the error there is about one pixel's worth of gradient (this image changes ~1.7 % a pixel).
    assert err[:, 2:-2, 2:-2].max().item() < 0.0075
    assert err.max().item() < 0.02
    assert err.mean().item() < 0.002


def test_wrong_siting_is_measurably_worse_than_the_right_one() -> None:
    left = PlaneFormat("yuv", 32, True, (1, 1), chroma_left=True)
    centre = PlaneFormat("yuv", 32, True, (1, 1), chroma_left=False)
    rgb = smooth_rgb()
    planes = rgb_to_planes(rgb, left)
    right_err = (planes_to_rgb(planes, left) - rgb).abs().mean().item()
    wrong_err = (planes_to_rgb(planes, centre) - rgb).abs().mean().item()
    assert wrong_err > 2 * right_err


# --- known values ------------------------------------------------------------------------------------------

def rgb_pixel(r: float, g: float, b: float) -> torch.Tensor:
    return torch.tensor([r, g, b], dtype=torch.float32).view(3, 1, 1).expand(3, 2, 2).contiguous()


def yuv_pixel(y: int, u: int, v: int, dtype: torch.dtype = torch.uint8) -> list[torch.Tensor]:
    return [torch.full((2, 2), c, dtype=dtype) for c in (y, u, v)]


BT709_8 = PlaneFormat("yuv", 8, False, matrix="bt709")


def test_limited_8bit_235_128_128_is_white_and_16_128_128_is_black() -> None:
    assert torch.allclose(planes_to_rgb(yuv_pixel(235, 128, 128), BT709_8), torch.ones(3, 2, 2))
    assert torch.allclose(planes_to_rgb(yuv_pixel(16, 128, 128), BT709_8), torch.zeros(3, 2, 2))


@pytest.mark.parametrize("matrix,full_range,expected", [
    ("bt709", False, (63, 102, 240)),
    ("bt601", False, (81, 90, 240)),
    ("bt2020", False, (74, 97, 240)),
    ("bt709", True, (54, 99, 255)),  # Cr = 255.5 clamps to the top code
])
def test_pure_red_gives_the_textbook_8bit_codes(matrix: str, full_range: bool, expected: tuple[int, ...]) -> None:
    fmt = PlaneFormat("yuv", 8, False, matrix=matrix, full_range=full_range)
    planes = rgb_to_planes(rgb_pixel(1, 0, 0), fmt)
    assert all(p.dtype == torch.uint8 for p in planes)
    assert [int(p[0, 0]) for p in planes] == list(expected)


@pytest.mark.parametrize("bits,dtype", [(9, torch.uint16), (10, torch.uint16), (16, torch.uint16)])
def test_deep_integers_scale_the_8bit_codes(bits: int, dtype: torch.dtype) -> None:
    fmt = PlaneFormat("yuv", bits, False)
    planes = rgb_to_planes(rgb_pixel(1, 0, 0), fmt)
    step = 1 << (bits - 8)
    assert all(p.dtype == dtype for p in planes)
    # 8-bit codes of red (63.03, 101.67, 240) scaled by 2^(bits-8), then rounded.
    y, cb, cr = (16 + 219 * 0.2126) * step, (128 - 224 * 0.2126 / 1.8556) * step, 240 * step
    assert [int(p[0, 0]) for p in planes] == [round(y), round(cb), round(cr)]
    white = rgb_to_planes(torch.ones(3, 2, 2), fmt)
    assert [int(p[0, 0]) for p in white] == [235 * step, 128 * step, 128 * step]


def test_torch_uint16_planes_are_read_like_any_integer_plane() -> None:
    fmt = PlaneFormat("yuv", 10, False)
    as_uint16 = planes_to_rgb(yuv_pixel(252, 408, 960, torch.uint16), fmt)
    as_int32 = planes_to_rgb(yuv_pixel(252, 408, 960, torch.int32), fmt)
    assert torch.equal(as_uint16, as_int32)
    assert torch.allclose(as_uint16, rgb_pixel(1, 0, 0), atol=0.005)


def test_float_yuv_uses_vapoursynths_centred_chroma() -> None:
    fmt = PlaneFormat("yuv", 32, True)
    y, u, v = rgb_to_planes(rgb_pixel(1, 0, 0), fmt)
    assert y.dtype == torch.float32
    assert y[0, 0].item() == pytest.approx(0.2126, abs=1e-6)
    assert u[0, 0].item() == pytest.approx(-0.2126 / 1.8556, abs=1e-6)
    assert v[0, 0].item() == pytest.approx(0.5, abs=1e-6)
    white = [torch.ones(2, 2), torch.zeros(2, 2), torch.zeros(2, 2)]
    assert torch.allclose(planes_to_rgb(white, fmt), torch.ones(3, 2, 2))


@pytest.mark.parametrize("fmt", [PlaneFormat("yuv", 32, True), PlaneFormat("rgb", 32, True),
                                 PlaneFormat("gray", 32, True)], ids=repr)
def test_planes_to_rgb_never_writes_into_its_input(fmt: PlaneFormat) -> None:
    # CPU planes are zero-copy views of VapourSynth frames: converting must not touch them.
    planes = [p * 2 - 0.5 for p in random_rgb()[:fmt.num_planes]]  # out of range, so a clamp would show
    before = [p.clone() for p in planes]
    planes_to_rgb(planes, fmt)
    assert all(torch.equal(p, q) for p, q in zip(planes, before))


def test_half_float_planes_come_back_as_float16() -> None:
    fmt = PlaneFormat("yuv", 16, True, (1, 1))
    planes = rgb_to_planes(smooth_rgb(), fmt)
    assert all(p.dtype == torch.float16 for p in planes)
    assert planes_to_rgb(planes, fmt).dtype == torch.float32


def test_out_of_range_rgb_is_clamped_before_quantising() -> None:
    y, u, v = rgb_to_planes(rgb_pixel(1.3, 1.2, 1.1), BT709_8)
    assert (int(y[0, 0]), int(u[0, 0]), int(v[0, 0])) == (235, 128, 128)


def test_luma_is_the_weighted_sum_of_the_matrix_over_any_leading_dims() -> None:
    rgb = random_rgb().expand(2, 3, 8, 12)
    kr, kb = 0.2627, 0.0593
    assert torch.allclose(luma(rgb, "bt2020"), kr * rgb[:, 0] + (1 - kr - kb) * rgb[:, 1] + kb * rgb[:, 2])


def test_bad_inputs_raise_value_error() -> None:
    with pytest.raises(ValueError):
        PlaneFormat("yuv", 12, True)
    with pytest.raises(ValueError):
        PlaneFormat("rgb", 8, False, (1, 1))
    with pytest.raises(ValueError):
        planes_to_rgb(yuv_pixel(16, 128, 128)[:2], BT709_8)
    with pytest.raises(ValueError):
        planes_to_rgb([torch.zeros(4, 4), torch.zeros(4, 4), torch.zeros(4, 4)], PlaneFormat("yuv", 32, True, (1, 1)))
    with pytest.raises(ValueError):
        rgb_to_planes(torch.zeros(3, 5, 4), PlaneFormat("yuv", 8, False, (1, 1)))


# --- frame props ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code,height,expected", [
    (1, 480, "bt709"), (5, 1080, "bt601"), (6, 1080, "bt601"), (9, 480, "bt2020"), (10, 2160, "bt2020"),
    (2, 576, "bt601"), (2, 720, "bt709"), (None, 480, "bt601"), (None, 1080, "bt709"),
])
def test_matrix_from_props_follows_h273_and_guesses_by_height(code: int | None, height: int, expected: str) -> None:
    assert matrix_from_props(code, height * 4 // 3, height) == expected


@pytest.mark.parametrize("width,height,code", [
    (1280, 544, 1), (1920, 800, 1), (1280, 720, 1), (960, 720, 1), (720, 576, 6), (720, 480, 6), (320, 136, 6),
    (1024, 576, 6), (1279, 577, 1),
])
def test_untagged_video_gets_mpvs_matrix_rule(width: int, height: int, code: int) -> None:
    """One rule for untagged YUV (#13): BT.709 when width >= 1280 or height > 576, else BT.601 -- a 1280x544
    scope film is HD (BT.709), where the old height-only rule said BT.601."""
    assert default_matrix(width, height) == code
    assert matrix_from_props(None, width, height) == ("bt709" if code == 1 else "bt601")
    assert matrix_from_props(2, width, height) == matrix_from_props(None, width, height)


def test_matrix_from_props_rejects_matrices_it_cannot_convert() -> None:
    for code in (0, 4, 7, 8, 14):
        with pytest.raises(ValueError):
            matrix_from_props(code, 1920, 1080)


def test_full_range_from_props() -> None:
    assert full_range_from_props(0, "yuv") is True
    assert full_range_from_props(1, "yuv") is False
    assert full_range_from_props(None, "yuv") is False
    assert full_range_from_props(None, "gray") is False
    assert full_range_from_props(None, "rgb") is True
    with pytest.raises(ValueError):
        full_range_from_props(3, "yuv")


# --- agreement with VapourSynth's resizers -----------------------------------------------------------------

@pytest.fixture(scope="module")
def vs():
    return pytest.importorskip("vapoursynth")


def clip_from_planes(vs, planes: list[np.ndarray], fmt):
    h, w = planes[0].shape
    blank = vs.core.std.BlankClip(width=w, height=h, format=fmt, length=1)

    def fill(n, f):
        out = f.copy()
        for i, p in enumerate(planes):
            np.copyto(np.asarray(out[i]), p)
        return out

    return vs.core.std.ModifyFrame(blank, blank, fill)


def frame_planes(clip) -> list[np.ndarray]:
    f = clip.get_frame(0)
    return [np.asarray(f[i]).copy() for i in range(f.format.num_planes)]


def gradient_rgb24(h: int = 32, w: int = 48) -> np.ndarray:
    return (smooth_rgb(h, w).numpy() * 300 - 20).clip(0, 255).round().astype(np.uint8)


@pytest.mark.parametrize("matrix,matrix_s", [("bt601", "170m"), ("bt709", "709"), ("bt2020", "2020ncl")])
@pytest.mark.parametrize("full_range", [False, True])
def test_rgb24_to_yuv444p8_agrees_with_resize_point_within_one_code(vs, matrix, matrix_s, full_range) -> None:
    rgb8 = gradient_rgb24()
    src = clip_from_planes(vs, list(rgb8), vs.RGB24)
    ref = frame_planes(src.resize.Point(format=vs.YUV444P8, matrix_s=matrix_s,
                                        range_s="full" if full_range else "limited"))
    fmt = PlaneFormat("yuv", 8, False, matrix=matrix, full_range=full_range)
    mine = rgb_to_planes(torch.from_numpy(rgb8).float() / 255, fmt)
    for p, r in zip(mine, ref):
        assert np.abs(p.numpy().astype(int) - r.astype(int)).max() <= 1


@pytest.mark.parametrize("left", [True, False])
def test_yuv420p10_to_rgb_agrees_with_catmull_rom_resize_within_1e4(vs, left: bool) -> None:
    # Random chroma (not smooth): the interpolation, the siting and the edges must all match zimg's.
    g = np.random.default_rng(3)
    planes = [g.integers(64, 941, (16, 24)), g.integers(64, 961, (8, 12)), g.integers(64, 961, (8, 12))]
    planes = [p.astype(np.uint16) for p in planes]
    siting = "left" if left else "center"
    ref = frame_planes(clip_from_planes(vs, planes, vs.YUV420P10).resize.Bicubic(
        format=vs.RGBS, matrix_in_s="709", chromaloc_in_s=siting, filter_param_a=0, filter_param_b=0.5))
    fmt = PlaneFormat("yuv", 10, False, (1, 1), "bt709", chroma_left=left)
    mine = planes_to_rgb([torch.from_numpy(p) for p in planes], fmt)
    assert np.abs(mine.numpy() - np.stack(ref).clip(0, 1)).max() < 1e-4


@pytest.mark.parametrize("left", [True, False])
def test_rgb_to_yuv420p10_agrees_with_resize_bicubic_on_a_smooth_image(vs, left: bool) -> None:
    rgb = smooth_rgb().numpy()
    siting = "left" if left else "center"
    ref = frame_planes(clip_from_planes(vs, list(rgb), vs.RGBS).resize.Bicubic(
        format=vs.YUV420P10, matrix_s="709", chromaloc_s=siting))
    mine = rgb_to_planes(torch.from_numpy(rgb), PlaneFormat("yuv", 10, False, (1, 1), chroma_left=left))
    assert np.abs(mine[0].numpy().astype(int) - ref[0].astype(int)).max() <= 1
    # Chroma: our area filter vs zimg's bicubic; on smooth content they differ by a few 10-bit codes at most.
    for p, r in zip(mine[1:], ref[1:]):
        assert np.abs(p.numpy().astype(int) - r.astype(int)).max() <= 3


# --- host planes <-> tensors -------------------------------------------------------------------------------

def strided_view(dtype, h: int = 6, w: int = 10, pad: int = 6,
                 writeable: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A (h, w) view into a (h, w + pad) array, like a VapourSynth plane with row padding."""
    base = (np.arange(h * (w + pad)) % 251).astype(dtype).reshape(h, w + pad)
    view = base[:, :w]
    view.flags.writeable = writeable
    return base, view


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float16, np.float32])
def test_plane_to_tensor_on_cpu_is_a_zero_copy_view_of_a_strided_read_only_plane(dtype) -> None:
    base, view = strided_view(dtype)
    assert view.strides[0] > view.shape[1] * view.itemsize
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.from_numpy would warn about the read-only array
        t = plane_to_tensor(view, torch.device("cpu"))
    assert t.shape == view.shape
    assert t.data_ptr() == view.ctypes.data
    assert np.shares_memory(t.numpy(), base)
    assert np.array_equal(t.numpy(), view)
    base[1, 2] = 7
    assert t[1, 2].item() == 7


def test_plane_to_tensor_reads_a_vapoursynth_frame_plane_without_copying(vs) -> None:
    clip = vs.core.std.BlankClip(width=1918, height=8, format=vs.YUV420P10, color=[100, 200, 300], length=1)
    frame = clip.get_frame(0)
    plane = np.asarray(frame[1])
    assert not plane.flags.writeable and plane.strides[0] > plane.shape[1] * 2
    t = plane_to_tensor(plane, torch.device("cpu"))
    assert t.dtype == torch.uint16 and t.shape == (4, 959)
    assert t.data_ptr() == plane.ctypes.data
    assert bool((t.to(torch.int32) == 200).all())


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_tensor_to_plane_writes_into_a_strided_view_and_leaves_the_padding_alone(dtype) -> None:
    base, view = strided_view(dtype, writeable=True)
    padding = base[:, view.shape[1]:].copy()
    t = torch.from_numpy((np.arange(view.size) % 200).astype(dtype).reshape(view.shape))
    tensor_to_plane(t.t().contiguous().t(), view)  # a non-contiguous source as well
    assert np.array_equal(view, t.numpy())
    assert np.array_equal(base[:, view.shape[1]:], padding)


def test_tensor_to_plane_fills_a_vapoursynth_output_frame(vs) -> None:
    clip = vs.core.std.BlankClip(width=1918, height=8, format=vs.YUV420P10, length=1)
    frame = clip.get_frame(0).copy()
    values = (torch.arange(4 * 959, dtype=torch.int32) % 1024).reshape(4, 959).to(torch.uint16)
    tensor_to_plane(values, np.asarray(frame[2]))
    assert np.array_equal(np.asarray(frame[2]), values.numpy())


def test_tensor_to_plane_refuses_a_mismatched_dtype_or_shape() -> None:
    _, view = strided_view(np.uint16, writeable=True)
    with pytest.raises(ValueError):
        tensor_to_plane(torch.zeros(view.shape, dtype=torch.float32), view)
    with pytest.raises(ValueError):
        tensor_to_plane(torch.zeros((2, 2), dtype=torch.uint16), view)


# --- CUDA ----------------------------------------------------------------------------------------------------

@pytest.mark.cuda
@needs_cuda
def test_pinned_upload_on_a_side_stream_delivers_every_frame_intact() -> None:
    device = torch.device("cuda")
    stream = torch.cuda.Stream(device)
    views = []
    for i in range(4):
        base, view = strided_view(np.uint16, 64, 100, 28)
        base += np.uint16(i)
        view.flags.writeable = False
        views.append(view)
    uploads = [plane_to_tensor(v, device, stream) for v in views]  # same shape: the pool reuses buffers
    torch.cuda.current_stream(device).wait_stream(stream)
    for v, t in zip(views, uploads):
        assert t.device.type == "cuda" and t.dtype == torch.uint16
        assert np.array_equal(t.cpu().numpy(), v)
    _, out = strided_view(np.uint16, 64, 100, 28, writeable=True)
    tensor_to_plane(uploads[2], out)
    assert np.array_equal(out, views[2])


@pytest.mark.cuda
@needs_cuda
def test_colour_conversion_on_cuda_matches_the_cpu() -> None:
    fmt = PlaneFormat("yuv", 10, False, (1, 1), "bt2020")
    planes = rgb_to_planes(smooth_rgb(), fmt)
    on_gpu = planes_to_rgb([p.cuda() for p in planes], fmt)
    assert on_gpu.device.type == "cuda"
    assert torch.allclose(on_gpu.cpu(), planes_to_rgb(planes, fmt), atol=1e-5)
    back = rgb_to_planes(on_gpu, fmt)
    assert all(p.device.type == "cuda" and p.dtype == torch.uint16 for p in back)
    assert codes([p.cpu() for p in back]) == codes(rgb_to_planes(on_gpu.cpu(), fmt))
