"""The engine's settings: one frozen object, checked once when it is made, used by the filter, the bridge and the
scripts alike (they only turn its errors into their own: `vs.Error`, a CLI message)."""
from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .backends import BACKENDS
from .colour_fix import colour_fix_mode
from .device import PRECISIONS

#: "int8" is the CPU's int8 mode for the compact family (model/compact_int8.py, engine/int8.py), never chosen by "auto".
PRECISION_NAMES: tuple[str, ...] = ("auto", *PRECISIONS, "int8")


class SettingsError(ValueError):
    """A setting with a wrong type or value; the message names the setting and what was given."""


def _given(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_int(name: str, value: object, lo: int | None = None) -> int:
    """`value` as an int (bools and strings refused), at least `lo`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SettingsError(f"{name} must be an integer, not {_given(value)}")
    if lo is not None and value < lo:
        raise SettingsError(f"{name} must be at least {lo}, not {value}")
    return int(value)


def _tile_pair(value: object) -> tuple[int, int]:
    """`tile` as (width, height): an int n is (n, n); a (w, h) pair or list as it is; (0, 0) = automatic."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        if len(value) != 2:
            raise SettingsError(f"tile must be an integer or a (width, height) pair, not {_given(value)}")
        w, h = (check_int("tile", v, 0) for v in value)
        if (w == 0) != (h == 0):
            raise SettingsError(f"tile width and height must both be positive or both 0 (automatic), not {w}x{h}")
        return w, h
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SettingsError(f"tile must be an integer or a (width, height) pair, not {_given(value)}")
    n = check_int("tile", value, 0)
    return n, n


def _check_device(value: object) -> str | int | None:
    if value is None:
        return None
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Integral)):
        raise SettingsError(f"device must be 'cpu', 'cuda', 'cuda:N', an integer N or None, not {_given(value)}")
    if isinstance(value, numbers.Integral):
        return check_int("device", value, 0)
    try:
        dev = torch.device(value)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise SettingsError(f"unknown device {value!r} (use 'cpu', 'cuda' or 'cuda:N')")
    return value


def _check_int8(backend: str, device: str | int | None) -> None:
    """int8 runs in the torch backend on the CPU (None: the CPU, as CUDA has no int8 mode here)."""
    if backend != "torch":
        raise SettingsError(f"precision 'int8' runs in the torch backend only, not {backend!r} (use backend='torch')")
    if isinstance(device, int) or (isinstance(device, str) and torch.device(device).type == "cuda"):
        raise SettingsError(f"precision 'int8' runs on the CPU only, not on {device!r} (use device='cpu', or fp16 "
                            "on CUDA)")


@dataclass(frozen=True)
class Settings:
    """How the engine upscales; every field is checked (and normalised) when the object is made.

    :param window:          frames the temporal model sees at once
    :param overlap:         frames shared by neighbouring windows, cross-faded (0 to window/2)
    :param tile:            LR tile size in pixels, an int or (width, height); 0 tiles automatically, only when a
                            window would not fit the memory budget. Stored as a (width, height) pair
    :param tile_overlap:    LR pixels shared by neighbouring tiles; a tile set by the user must be larger
                            (automatic tiles cap it at a quarter of the tile)
    :param num_streams:     windows processed at once (CUDA: one stream each)
    :param precision:       "auto", "fp32", "fp16", "bf16" or "int8" (CPU, torch backend, compact family only)
    :param colour_fix:      "wavelet", "adain" or "none" (True = "wavelet", False = "none")
    :param scene_threshold: mean luma difference (0-1) that starts a new shot; 0 disables detection
    :param device:          "cpu", "cuda", "cuda:N", an int N, or None (CUDA when available)
    :param max_memory:      memory budget in MiB for activations and cached windows; 0 = half of the memory
                            available when the engine starts
    :param backend:         inference runtime: torch, onnxruntime, openvino or tensorrt (engine/backends.py)
    :param compile:         torch.compile the network (torch backend; fp32, fp16 or bf16): about half a minute per
                            input shape, then faster on CUDA; for long encodes (engine/compiled.py)
    """

    window: int = 16
    overlap: int = 4
    tile: Any = (0, 0)  # int | tuple[int, int] | list[int] given; tuple[int, int] (width, height) stored
    tile_overlap: int = 32
    num_streams: int = 1
    precision: str = "auto"
    colour_fix: Any = "wavelet"  # bool | str given; str stored
    scene_threshold: float = 0.1
    device: str | int | None = None
    max_memory: int = 0
    backend: str = "torch"
    compile: bool = False

    def __post_init__(self) -> None:
        window = check_int("window", self.window, 1)
        overlap = check_int("overlap", self.overlap)
        if not 0 <= overlap <= window // 2:
            raise SettingsError(f"overlap must be between 0 and window/2 ({window // 2}), not {overlap}")
        tile = _tile_pair(self.tile)
        tile_overlap = check_int("tile_overlap", self.tile_overlap, 0)
        if tile[0] and min(tile) <= tile_overlap:
            raise SettingsError(f"tile ({tile[0]}x{tile[1]}) must be larger than tile_overlap ({tile_overlap})")
        num_streams = check_int("num_streams", self.num_streams, 1)
        if not isinstance(self.precision, str) or self.precision not in PRECISION_NAMES:
            raise SettingsError(f"unknown precision {self.precision!r} (use {', '.join(PRECISION_NAMES)})")
        try:
            colour_fix = colour_fix_mode(self.colour_fix)
        except ValueError as e:
            raise SettingsError(str(e)) from None
        threshold = self.scene_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise SettingsError(f"scene_threshold must be a number, not {_given(threshold)}")
        if not 0 <= threshold <= 1:
            raise SettingsError(f"scene_threshold must be between 0 and 1, not {threshold}")
        max_memory = check_int("max_memory", self.max_memory, 0)
        if not isinstance(self.backend, str) or self.backend not in BACKENDS:
            raise SettingsError(f"unknown backend {self.backend!r} (use {', '.join(BACKENDS)})")
        device = _check_device(self.device)
        if self.precision == "int8":
            _check_int8(self.backend, device)
        if not isinstance(self.compile, bool):
            raise SettingsError(f"compile must be True or False, not {_given(self.compile)}")
        if self.compile and self.backend != "torch":
            raise SettingsError(f"compile applies to the torch backend only, not {self.backend!r} (the others "
                                "compile the ONNX export themselves)")
        if self.compile and self.precision == "int8":
            raise SettingsError("compile applies to fp32, fp16 and bf16, not precision 'int8'")
        for name, value in (("window", window), ("overlap", overlap), ("tile", tile), ("tile_overlap", tile_overlap),
                            ("num_streams", num_streams), ("colour_fix", colour_fix),
                            ("scene_threshold", float(threshold)), ("device", device),
                            ("max_memory", max_memory)):
            object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> Settings:
        """A checked copy with `changes`; an unknown name is a SettingsError."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    @property
    def automatic_tile(self) -> bool:
        """Whether tiles are chosen by the engine (only when a window would not fit the budget)."""
        return self.tile == (0, 0)

    def memory_budget(self, available: int) -> int:
        """Bytes the engine may use: `max_memory` MiB, or half of `available` when it is 0."""
        return self.max_memory << 20 if self.max_memory else available // 2
