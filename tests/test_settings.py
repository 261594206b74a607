"""The engine's one settings object: checked once, errors that name the setting and what was given (#13, #14)."""
from __future__ import annotations

import pytest

from vsadcvsr.engine.settings import Settings, SettingsError


def test_defaults_are_the_documented_ones() -> None:
    s = Settings()
    assert (s.window, s.overlap, s.tile, s.tile_overlap, s.num_streams) == (16, 4, (0, 0), 32, 1)
    assert (s.precision, s.colour_fix, s.scene_threshold, s.device, s.max_memory, s.backend) == (
        "auto", "wavelet", 0.1, None, 0, "torch")
    assert s.automatic_tile


@pytest.mark.parametrize("tile,pair", [(0, (0, 0)), (64, (64, 64)), ([64, 48], (64, 48)), ((96, 64), (96, 64))])
def test_tile_is_an_int_or_a_width_height_pair(tile: object, pair: tuple[int, int]) -> None:
    assert Settings(tile=tile).tile == pair


@pytest.mark.parametrize("changes,message", [
    ({"window": "16"}, "window must be an integer, not '16' (str)"),
    ({"window": 16.0}, "window must be an integer, not 16.0 (float)"),
    ({"window": True}, "window must be an integer, not True (bool)"),
    ({"window": 0}, "window must be at least 1, not 0"),
    ({"overlap": 9}, "overlap must be between 0 and window/2 (8), not 9"),
    ({"window": 16, "overlap": 10}, "overlap must be between 0 and window/2 (8), not 10"),
    ({"overlap": -1}, "overlap must be between 0 and window/2"),
    ({"tile": "64"}, "tile must be an integer or a (width, height) pair, not '64' (str)"),
    ({"tile": [64, 48, 32]}, "tile must be an integer or a (width, height) pair, not [64, 48, 32] (list)"),
    ({"tile": [64, 0]}, "tile width and height must both be positive or both 0"),
    ({"tile": -8}, "tile must be at least 0, not -8"),
    ({"tile": 16}, "tile (16x16) must be larger than tile_overlap (32)"),
    ({"tile": 32}, "tile (32x32) must be larger than tile_overlap (32)"),
    ({"tile": [128, 24], "tile_overlap": 24}, "tile (128x24) must be larger than tile_overlap (24)"),
    ({"tile_overlap": -1}, "tile_overlap must be at least 0, not -1"),
    ({"num_streams": 0}, "num_streams must be at least 1, not 0"),
    ({"precision": "fp8"}, "unknown precision 'fp8'"),
    ({"colour_fix": "sharpen"}, "colour_fix must be True, False or one of"),
    ({"scene_threshold": 2}, "scene_threshold must be between 0 and 1, not 2"),
    ({"scene_threshold": "0.1"}, "scene_threshold must be a number, not '0.1' (str)"),
    ({"device": "gpu"}, "unknown device 'gpu'"),
    ({"device": 1.5}, "device must be 'cpu', 'cuda', 'cuda:N', an integer N or None, not 1.5 (float)"),
    ({"max_memory": -1}, "max_memory must be at least 0, not -1"),
    ({"max_memory": "4G"}, "max_memory must be an integer, not '4G' (str)"),
    ({"backend": "tflite"}, "unknown backend 'tflite'"),
])
def test_a_bad_setting_is_refused_naming_it(changes: dict, message: str) -> None:
    with pytest.raises(SettingsError) as e:
        Settings(**changes)
    assert message in str(e.value)
    with pytest.raises(SettingsError):  # replace checks as construction does
        Settings().replace(**changes)


def test_settings_normalise_and_compare() -> None:
    assert Settings(colour_fix=True) == Settings(colour_fix="wavelet")
    assert Settings(colour_fix=False).colour_fix == "none"
    assert Settings(tile=[64, 64]) == Settings(tile=64)
    assert Settings(scene_threshold=0).scene_threshold == 0.0
    assert Settings(tile=16, tile_overlap=8).tile == (16, 16)  # a tile larger than its overlap is fine
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings().replace(windw=8)
    with pytest.raises(AttributeError):
        Settings().window = 8  # type: ignore[misc]


def test_memory_budget_is_max_memory_or_half_of_what_is_available() -> None:
    assert Settings(max_memory=512).memory_budget(100 << 30) == 512 << 20
    assert Settings().memory_budget(8 << 30) == 4 << 30
