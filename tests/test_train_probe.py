"""The probes' logistic regression and held-out linear separability test (`vsadcvsr.train.probe`)."""
from __future__ import annotations

import pytest
import torch

from vsadcvsr.train.probe import linear_separability, logistic_fit


def test_separable_rows_are_told_apart_and_identical_ones_are_not() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20, 50, 8, generator=g)
    b = torch.randn(20, 50, 8, generator=g)
    b[..., 3] += 3.0  # one feature moved by 3 standard deviations
    train, held = linear_separability(a, b, held_out=5)
    assert train > 0.9 and held > 0.9
    same = torch.randn(20, 50, 8, generator=g)
    _, held_same = linear_separability(a, same, held_out=5)
    assert 0.4 < held_same < 0.6  # chance


def test_held_out_clips_are_the_last_ones() -> None:
    """A difference only in the held-out clips is not learned: they score at chance while training ones are told."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(10, 40, 4, generator=g), torch.randn(10, 40, 4, generator=g)
    b[:8, :, 0] += 3.0  # training clips: b is shifted along feature 0
    b[8:, :, 1] += 3.0  # held-out clips: along feature 1 instead
    train, held = linear_separability(a, b, held_out=2)
    assert train > 0.9 and held < 0.75


def test_mismatched_clips_or_held_out_are_refused() -> None:
    with pytest.raises(ValueError, match="linear_separability"):
        linear_separability(torch.zeros(4, 2, 3), torch.zeros(5, 2, 3), held_out=1)
    with pytest.raises(ValueError, match="linear_separability"):
        linear_separability(torch.zeros(4, 2, 3), torch.zeros(4, 2, 3), held_out=4)


def test_logistic_fit_points_along_the_difference_and_honours_weights() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(400, 3, generator=g)
    y = (torch.arange(400) % 2).float()
    x[y == 1, 1] += 2.0  # label 1 lies along +feature 1
    w, c = logistic_fit(x, y)
    assert w.shape == (3,) and c.shape == (1,)
    assert w[1] > 0.5 and w[0].abs() < 0.3 and w[2].abs() < 0.3
    # weighting label 1 nine times as much moves the bias towards calling rows 1
    _, c_weighted = logistic_fit(x, y, torch.where(y == 1, 9.0, 1.0))
    assert c_weighted > c + 1.0


def test_logistic_fit_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="logistic_fit"):
        logistic_fit(torch.zeros(4, 2), torch.zeros(5))
    with pytest.raises(ValueError, match="logistic_fit"):
        logistic_fit(torch.zeros(4, 2), torch.zeros(4), torch.ones(3))
