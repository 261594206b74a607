"""Metrics of vsadcvsr.eval on cases whose answer is known."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from vsadcvsr.eval.fidelity import PSNR_CAP_DB, psnr_rgb, psnr_y, ssim_y
from vsadcvsr.eval.no_reference import MetricUnavailable, brisque, matlab_halve, niqe
from vsadcvsr.eval.rate import x265_bits_per_pixel
from vsadcvsr.eval.vmaf import VmafUnavailable, vmaf_neg
from vsadcvsr.eval.warping import warping_error
from vsadcvsr.flow import occlusion_mask


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return data.chelsea()[:288, :384].copy()  # 384x288 RGB uint8: four 96x96 blocks across, three down


def blur(img: np.ndarray, sigma: float = 2.5) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def pan(img: np.ndarray, n: int = 6, step: int = 2, size: int = 160) -> np.ndarray:
    """A camera pan: windows of `img` moving right by `step` pixels per frame (content moves left)."""
    return np.stack([img[40:40 + size, 40 + i * step:40 + i * step + size] for i in range(n)])


def test_psnr_of_identical_frames_is_the_cap(photo: np.ndarray) -> None:
    assert psnr_rgb(photo, photo.copy()) == PSNR_CAP_DB


def test_ssim_of_identical_frames_is_one(photo: np.ndarray) -> None:
    assert ssim_y(photo, photo.copy()) == pytest.approx(1.0, abs=1e-9)


def test_psnr_matches_its_definition_for_a_constant_error() -> None:
    a = np.full((8, 8, 3), 100, np.uint8)
    assert psnr_rgb(a, a + 5) == pytest.approx(10 * np.log10(255**2 / 25))


def test_psnr_y_weighs_the_channels_as_bt601_luma() -> None:
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[..., 1] += 10  # green only: luma moves by 128.553/255 * 10
    assert psnr_y(a, b) == pytest.approx(10 * np.log10(255**2 / (128.553 / 255 * 10) ** 2))
    assert psnr_y(a, a.copy()) == PSNR_CAP_DB
    c = a.copy()
    c[..., 2] += 10  # blue weighs least, so the same error costs least
    assert psnr_y(a, c) > psnr_y(a, b)


def test_blur_lowers_psnr_and_ssim(photo: np.ndarray) -> None:
    mild, strong = blur(photo, 1.0), blur(photo, 3.0)
    assert psnr_rgb(photo, strong) < psnr_rgb(photo, mild) < 40
    assert ssim_y(photo, strong) < ssim_y(photo, mild) < 1


def test_shift_lowers_psnr(photo: np.ndarray) -> None:
    clip = pan(photo)
    assert psnr_rgb(clip[0], clip[1]) < 30


def test_blur_raises_brisque(photo: np.ndarray) -> None:
    try:
        sharp, blurred = brisque(photo), brisque(blur(photo))
    except MetricUnavailable as e:
        pytest.skip(str(e))
    assert blurred > sharp + 10


def test_blur_raises_niqe(photo: np.ndarray) -> None:
    assert niqe(blur(photo)) > niqe(photo) + 2


def test_niqe_refuses_a_frame_smaller_than_one_block() -> None:
    with pytest.raises(ValueError, match="smaller than one"):
        niqe(np.zeros((64, 200, 3), np.uint8))


def test_matlab_halve_keeps_a_constant_image_and_halves_its_size() -> None:
    out = matlab_halve(np.full((37, 50), 7.0))
    assert out.shape == (19, 25)
    assert np.allclose(out, 7.0)


def test_warping_error_of_a_still_clip_is_zero(photo: np.ndarray) -> None:
    clip = np.stack([photo[:160, :160]] * 4)
    assert warping_error(clip).value == pytest.approx(0.0, abs=1e-9)


def test_warping_error_of_a_pan_is_small_after_flow_compensation(photo: np.ndarray) -> None:
    clip = pan(photo)
    unwarped = 1000 * np.mean(np.sum((clip[1:].astype(np.float32) / 255 - clip[:-1].astype(np.float32) / 255) ** 2,
                                     axis=-1))
    warped = warping_error(clip).value
    assert warped < 0.15 * unwarped


def test_flicker_raises_the_warping_error(photo: np.ndarray) -> None:
    clip = pan(photo).astype(np.int16)
    flicker = np.clip(clip + np.array([12, -12] * 3)[:, None, None, None], 0, 255).astype(np.uint8)
    assert warping_error(flicker).value > 3 * warping_error(clip.astype(np.uint8)).value + 1


def test_warping_error_skips_pairs_across_a_cut(photo: np.ndarray) -> None:
    a = np.stack([photo[:128, :128]] * 3)
    b = np.stack([photo[150:278, 200:328]] * 3)
    res = warping_error(np.concatenate([a, b]), cuts=[3])
    assert len(res.pairs) == 4
    assert res.value == pytest.approx(0.0, abs=1e-9)


def test_warping_error_can_take_its_flow_from_another_clip(photo: np.ndarray) -> None:
    clip = pan(photo)
    assert warping_error(clip, flow_frames=clip).value == pytest.approx(warping_error(clip).value)


def test_occlusion_mask_is_empty_for_a_uniform_flow() -> None:
    fw = np.full((32, 32, 2), 1.5, np.float32)
    assert not occlusion_mask(fw, -fw).any()


def test_occlusion_mask_flags_a_motion_boundary() -> None:
    fw = np.zeros((32, 32, 2), np.float32)
    fw[:, 16:, 0] = 4.0
    mask = occlusion_mask(fw, -fw)
    assert mask[:, 15].all()
    assert not mask[:, :8].any()


def test_vmaf_of_identical_clips_is_high_and_of_a_blurred_clip_lower(photo: np.ndarray) -> None:
    clip = pan(photo, n=3)
    try:
        same = np.mean(vmaf_neg(clip, clip.copy()))
        blurred = np.mean(vmaf_neg(clip, np.stack([blur(f) for f in clip])))
    except VmafUnavailable as e:
        pytest.skip(str(e))
    assert same > 95
    assert blurred < same - 20


def test_x265_size_grows_with_grain_and_shrinks_with_blur(photo: np.ndarray) -> None:
    clip = pan(photo)
    smooth = np.stack([blur(f) for f in clip])
    rng = np.random.default_rng(0)
    grain = np.clip(smooth + rng.normal(0, 8, clip.shape), 0, 255).astype(np.uint8)  # fresh every frame
    sizes = [x265_bits_per_pixel(c) for c in (smooth, clip, grain)]
    assert 0 < sizes[0] < sizes[1], sizes  # detail costs bits
    assert sizes[2] > 2 * sizes[0], sizes  # grain too: the encoder cannot predict it
    assert x265_bits_per_pixel(clip) == sizes[1]  # one frame thread: the same bytes every time


def test_x265_size_refuses_odd_sizes_and_float_clips(photo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="x265_bits_per_pixel: 159x160 is not even"):
        x265_bits_per_pixel(pan(photo)[:, :, :159])
    with pytest.raises(ValueError, match="uint8 clip"):
        x265_bits_per_pixel(pan(photo).astype(np.float32))
