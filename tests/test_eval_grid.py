"""The sub-pixel grid score: a real photograph with and without a faint x4 grid, other periods, strength, size."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from vsadcvsr.eval.grid import MIN_SIDE, clip_grid_score, grid_score, harmonic_ratios


def _photo() -> np.ndarray:
    return skimage.data.astronaut()[:256, :256].astype(np.float64)  # a real photograph, 256x256 RGB


def _with(pattern: np.ndarray, img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img + pattern[..., None]), 0, 255).astype(np.uint8)


def _x4_grid(amplitude: float, size: int = 256) -> np.ndarray:
    """A ±amplitude screen door locked to the 4-px grid: one bright phase of every 4x4 cell (8-bit levels)."""
    g = np.full((size, size), -amplitude)
    g[1::4, 2::4] = amplitude
    return g


def test_a_faint_x4_grid_on_a_photo_scores_far_above_the_photo() -> None:
    img = _photo()
    clean = grid_score(img.astype(np.uint8))
    door = grid_score(_with(_x4_grid(3.0), img))
    assert clean < 10
    assert door > 10 * clean


def test_a_period_5_grid_scores_low() -> None:
    img = _photo()
    y, x = np.mgrid[:256, :256]
    p5 = 3.0 * np.where((x % 5 == 0) | (y % 5 == 0), 1.0, -1.0)
    assert grid_score(_with(p5, img)) < 2 * grid_score(img.astype(np.uint8))
    assert grid_score(_with(p5, img)) < 0.1 * grid_score(_with(_x4_grid(3.0), img))


def test_period_2_along_one_axis_counts() -> None:
    img = _photo()
    stripes = np.tile(np.where(np.arange(256) % 2 == 0, 3.0, -3.0), (256, 1))  # columns alternate: period 2 in x
    assert grid_score(_with(stripes, img)) > 3 * grid_score(img.astype(np.uint8))


def test_monotone_in_strength() -> None:
    img = _photo()
    scores = [grid_score(_with(_x4_grid(a), img)) for a in (0.0, 1.0, 2.0, 3.0, 6.0)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores


def test_too_small_frames_and_wrong_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        grid_score(np.zeros((MIN_SIDE - 1, 200, 3), np.uint8))
    with pytest.raises(ValueError, match="expected"):
        grid_score(np.zeros((100, 100, 4), np.uint8))


def test_fifteen_harmonics_and_a_clip_mean() -> None:
    img = _photo().astype(np.uint8)
    assert harmonic_ratios(img).shape == (15,)
    clip = np.stack([img, _with(_x4_grid(3.0), _photo())])
    assert clip_grid_score(clip) == pytest.approx((grid_score(clip[0]) + grid_score(clip[1])) / 2)
