"""Parts of a film through `upscale_stream(first_index=...)`: the film's window grid is kept, so a part that starts
at a scene cut gives exactly the frames of the whole-film run (what the cluster's segments rely on)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vsadcvsr.engine import upscale_stream


class _MeanUpscaler:
    """A stand-in temporal 'model': every output frame depends on all frames of its window piece."""

    def upscale_window(self, frames: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(frames, scale_factor=2, mode="nearest")
        return up * 0.5 + up.mean(0, keepdim=True) * 0.5


def _film(shots: list[int], seed: int = 0) -> torch.Tensor:
    """Shots of the given lengths; each shot is one grey level plus noise, so cuts are sure (difference > 0.3)."""
    g = torch.Generator().manual_seed(seed)
    parts = [torch.full((n, 3, 4, 6), 0.1 + 0.4 * (i % 2)) + 0.05 * torch.rand(n, 3, 4, 6, generator=g)
             for i, n in enumerate(shots)]
    return torch.cat(parts)


def _run(film: torch.Tensor, first: int, stop: int, grid_start: bool = True, **kw) -> list[torch.Tensor]:
    frames = (film[i] for i in range(first, stop))
    return list(upscale_stream(frames, _MeanUpscaler(), first_index=first if grid_start else 0, **kw))


@pytest.mark.parametrize("window,overlap", [(16, 4), (8, 3), (5, 0)])
def test_parts_starting_at_cuts_equal_the_whole_run(window: int, overlap: int) -> None:
    film = _film([23, 19, 30, 17])  # cuts at 23, 42, 72; none on the grid of any window size here
    whole = _run(film, 0, len(film), window=window, overlap=overlap)
    assert len(whole) == len(film)
    bounds = [0, 23, 42, 72, len(film)]
    parts = []
    for a, b in zip(bounds, bounds[1:]):
        parts += _run(film, a, b, window=window, overlap=overlap)
    assert len(parts) == len(whole)
    for n, (x, y) in enumerate(zip(whole, parts)):
        assert torch.equal(x, y), f"frame {n} differs"


def test_a_part_on_its_own_grid_differs_and_one_inside_a_shot_differs_only_near_its_start() -> None:
    film = _film([23, 40])
    whole = _run(film, 0, len(film), window=8, overlap=2)
    # the old behaviour (grid restarted at the part's first frame): frames differ although the part starts at a cut
    restarted = _run(film, 23, len(film), grid_start=False, window=8, overlap=2)
    assert any(not torch.equal(whole[23 + i], y) for i, y in enumerate(restarted))
    # a part starting inside a shot (frame 40): only the windows reaching back across 40 differ
    part = _run(film, 40, len(film), window=8, overlap=2)
    differing = [40 + i for i, y in enumerate(part) if not torch.equal(whole[40 + i], y)]
    assert differing and max(differing) < 44  # only window [36, 44) reaches back across 40


def test_first_index_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="first_index"):
        next(upscale_stream(iter([torch.zeros(3, 4, 4)]), _MeanUpscaler(), first_index=-1))
