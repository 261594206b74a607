"""The degradation pipeline: shapes, reproducibility, per-clip parameters, and that it really degrades."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from vsadcvsr.degradation import bicubic_down, degrade_clip


def _clip(frames: int = 4, size: int = 96, moving: bool = True) -> np.ndarray:
    img = skimage.data.astronaut()
    return np.stack([img[100 + (2 * i if moving else 0): 100 + (2 * i if moving else 0) + size, 150:150 + size]
                     for i in range(frames)])


def _hf_energy(x: np.ndarray) -> float:
    """Mean squared Laplacian of the luma: high-frequency energy."""
    y = x.astype(np.float32).mean(axis=-1)
    return float(np.mean([cv2.Laplacian(f, cv2.CV_32F) ** 2 for f in y]))


@pytest.mark.parametrize("preset", ["standard", "mild"])
def test_output_is_float_lr_sized_in_unit_range(preset: str) -> None:
    hr = _clip()
    lr = degrade_clip(hr, 4, seed=3, preset=preset)
    assert lr.shape == (4, 24, 24, 3) and lr.dtype == np.float32
    assert 0.0 <= lr.min() and lr.max() <= 1.0


def test_uint8_and_float_inputs_give_the_same_clip() -> None:
    hr = _clip()
    assert np.array_equal(degrade_clip(hr, 4, 5), degrade_clip(hr.astype(np.float32) / 255.0, 4, 5))


def test_same_seed_same_output_other_seed_other_output() -> None:
    hr = _clip()
    a, b, c = degrade_clip(hr, 4, 7), degrade_clip(hr, 4, 7), degrade_clip(hr, 4, 8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_one_parameter_set_per_clip() -> None:
    # identical frames: only the noise realisation may differ, so blur level and brightness match frame to frame
    hr = _clip(moving=False)
    for seed in range(4):
        lr = degrade_clip(hr, 4, seed)
        means = lr.mean(axis=(1, 2, 3))
        assert np.ptp(means) < 0.02, seed
        e = [_hf_energy(lr[i:i + 1] * 255) for i in range(len(lr))]
        assert max(e) / min(e) < 1.5, (seed, e)


def test_standard_output_is_blurrier_than_a_clean_downscale() -> None:
    hr = _clip()
    clean = _hf_energy(bicubic_down(hr, 4) * 255)
    mild = [_hf_energy(degrade_clip(hr, 4, s, "mild") * 255) for s in range(3)]
    standard = [_hf_energy(degrade_clip(hr, 4, s, "standard") * 255) for s in range(6)]
    assert max(mild) < 0.9 * clean
    assert np.median(standard) < 0.5 * clean  # noise can add high frequencies back to some clips


def test_flat_input_comes_out_noisy() -> None:
    hr = np.full((3, 64, 64, 3), 128, np.uint8)
    noise = [degrade_clip(hr, 4, s).std(axis=(1, 2)).mean() for s in range(6)]
    assert bicubic_down(hr, 4).std() < 1e-6
    assert np.mean(noise) > 1.0 / 255


def test_mild_is_closer_to_the_clean_downscale_than_standard() -> None:
    hr = _clip()
    ref = bicubic_down(hr, 4)

    def err(p: str) -> float:
        return float(np.mean([np.mean((degrade_clip(hr, 4, s, p) - ref) ** 2) for s in range(4)]))

    assert err("mild") < err("standard")


def test_bicubic_down_shapes() -> None:
    hr = _clip()
    assert bicubic_down(hr, 4).shape == (4, 24, 24, 3)
    assert bicubic_down(hr[0], 2).shape == (48, 48, 3)


def test_sizes_not_divisible_by_the_scale_are_refused() -> None:
    with pytest.raises(ValueError):
        degrade_clip(np.zeros((2, 30, 32, 3), np.uint8), 4)


def test_the_training_set_is_the_same_whatever_the_number_of_workers(tmp_path) -> None:
    from vsadcvsr.train import synthetic as fx
    from vsadcvsr.train.dataset import ClipDataset, build_dataset

    m = fx.material()
    build_dataset(tmp_path / "one.npz", m, clips=6, frames=3, lr_size=16, seed=5, teachers={}, workers=1)
    build_dataset(tmp_path / "two.npz", m, clips=6, frames=3, lr_size=16, seed=5, teachers={}, workers=2)
    a, b = ClipDataset.load(tmp_path / "one.npz"), ClipDataset.load(tmp_path / "two.npz")
    assert np.array_equal(a.hr, b.hr) and np.array_equal(a.lr, b.lr)
    assert a.lr.std() > 0


def test_without_pyav_opencv_decodes_the_same_frames(monkeypatch, bikes) -> None:
    import sys

    from vsadcvsr.material import read_video

    ref = read_video(bikes, 10, 14)
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError, as on a machine without it
    assert np.array_equal(read_video(bikes, 10, 14), ref)
