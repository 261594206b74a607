"""What a network tells the engine about itself, so the engine needs no knowledge of network kinds."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: (frames, LR height, LR width, bytes per element, frames rendered at a time) -> bytes of working memory.
MemoryEstimate = Callable[[int, int, int, int, int], int]
#: Activation ranges of an int8 network: {module name: (scale, zero point)}.
QParams = dict[str, tuple[float, int]]


class Int8Error(ValueError):
    """int8 asked for where it cannot run: a device, backend, network family or torch that does not support it."""


@dataclass(frozen=True)
class Int8Support:
    """How a family's network runs with int8 convolutions on the CPU (`precision="int8"`).

    :param calibrate:  (float network, windows (T, 3, h, w) in [-1, 1]) -> the activation ranges
    :param build:      (float network, activation ranges, dtype of the parts left in float) -> the int8 network,
                       called as the float one
    :param scheme:     names the quantisation scheme; part of a calibration's identity
    """

    calibrate: Callable[[Any, Sequence[Any]], QParams]
    build: Callable[[Any, QParams, Any], Any]
    scheme: str


def _no_estimate(frames: int, h: int, w: int, element_bytes: int, render_chunk: int) -> int:
    """A generic guess: 64 feature maps per LR pixel and frame, plus the x4 output."""
    return int((64 * h * w + 3 * 16 * h * w) * frames * element_bytes * 1.5)


@dataclass(frozen=True)
class EngineHints:
    """What the engine needs to know to run a network.

    :param scale:          output size / input size
    :param size_multiple:  tiles are rounded to multiples of this (the network pads other sizes itself)
    :param pad:            LR pixels of border the network adds around each frame itself
    :param cpu_bf16:       bf16 weights are the better choice on CPUs with bf16 hardware (precision "auto")
    :param fp32_input:     frames go in as float32 whatever the weights' dtype (the network casts inside)
    :param memory:         working memory of one window, (frames, h, w, element bytes, render chunk) -> bytes;
                           a rough upper bound the engine sizes tiles by
    :param int8:           how the network runs with int8 convolutions on the CPU; None: it does not
    """

    scale: int = 4
    size_multiple: int = 1
    pad: int = 0
    cpu_bf16: bool = False
    fp32_input: bool = False
    memory: MemoryEstimate = _no_estimate
    int8: Int8Support | None = None

    def memory_bytes(self, frames: int, h: int, w: int, element_bytes: int, render_chunk: int) -> int:
        return int(self.memory(frames, h, w, element_bytes, render_chunk))
