"""The probes' held-out linear separability test (`vsadcvsr.train.probe.linear_separability`)."""
from __future__ import annotations

import pytest
import torch

from vsadcvsr.train.probe import linear_separability


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
