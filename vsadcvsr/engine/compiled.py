"""Opt-in `torch.compile` of the network (`Settings.compile`): Inductor with the weights frozen into the graph.

Compiling costs about half a minute per input shape and then runs the default network 1.3x faster on CUDA; on the
CPU no faster since the usual path fuses the temporal blocks itself (docs/results.md, "torch.compile"). It pays
only over many windows of one shape: a long encode. A shape is
compiled when it comes a second time and has the most frames seen at its frame size: full windows (whole frames or
the tile size, which stays fixed: engine/tiles.py) are compiled; the pieces a scene cut or the clip's end leaves,
and the first window of each shape, run eagerly. If compiling fails (no C++ compiler for Inductor, an operator it
cannot lower), the network runs eagerly from then on, and says so once on stderr.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

import torch
from torch import Tensor, nn

log = logging.getLogger("vsadcvsr")

#: Inductor settings while a shape compiles: weights folded into the graph as constants and prepacked for the CPU's
#: kernels (inference only; the shared model's weights never change). Given as torch.compile's `options` they do not
#: take effect (measured: no faster than eager), so they are patched into Inductor's config around the compiling call.
INDUCTOR_CONFIG: dict[str, Any] = {"freezing": True, "cpp.weight_prepack": True}
#: Shapes compiled per network at most (each costs a compile and its code's memory); later shapes run eagerly.
MAX_SHAPES = 4

_COMPILED: dict[int, nn.Module] = {}
_COMPILED_LOCK = threading.Lock()


def _compiled_module(model: nn.Module) -> nn.Module:
    """One compiled wrapper per shared model, so that filters on the same model share its compiled shapes."""
    with _COMPILED_LOCK:
        if id(model) not in _COMPILED:
            _COMPILED[id(model)] = torch.compile(model, dynamic=False)  # type: ignore[assignment]
        return _COMPILED[id(model)]


class CompiledNetwork:
    """Calls `model` (input (B, T, 3, h, w)) compiled for the shapes that recur, eagerly for the others.

    :param model:       the network, in eval mode with no gradients (the engine's shared model)
    :param max_shapes:  shapes compiled at most
    """

    def __init__(self, model: nn.Module, max_shapes: int = MAX_SHAPES) -> None:
        self.model = model
        self.max_shapes = max_shapes
        self.compiled: set[tuple[int, ...]] = set()  # shapes that run compiled
        self.failed: str | None = None  # why compiling failed; then everything runs eagerly
        self._seen: Counter[tuple[int, ...]] = Counter()
        self._most_frames: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()

    def _wanted(self, shape: tuple[int, ...]) -> bool:
        """Counts `shape` and says whether it should run compiled (the caller holds the lock)."""
        self._seen[shape] += 1
        frames, size = shape[1], (shape[-2], shape[-1])
        self._most_frames[size] = max(self._most_frames.get(size, 0), frames)
        if self.failed is not None or shape in self.compiled:
            return shape in self.compiled
        return self._seen[shape] >= 2 and frames == self._most_frames[size] and len(self.compiled) < self.max_shapes

    def __call__(self, x: Tensor, **kwargs: Any) -> Tensor:
        shape = tuple(x.shape)
        with self._lock:
            wanted = self._wanted(shape)
            if wanted and shape not in self.compiled:
                return self._compile(x, shape, kwargs)  # under the lock: one compile at a time
        if wanted:
            return _compiled_module(self.model)(x, **kwargs)
        return self.model(x, **kwargs)

    def _compile(self, x: Tensor, shape: tuple[int, ...], kwargs: dict[str, Any]) -> Tensor:
        t0 = time.perf_counter()
        try:
            import torch._inductor.config as inductor_config

            with inductor_config.patch(INDUCTOR_CONFIG):
                y = _compiled_module(self.model)(x, **kwargs)
        except Exception as e:  # Inductor's errors have no common base: any failure means eager from here on
            self.failed = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            log.warning("compile: torch.compile failed (%s); the network runs without it", self.failed)
            return self.model(x, **kwargs)
        self.compiled.add(shape)
        log.info("compile: compiled the network for input %s in %.0f s", "x".join(map(str, shape[1:])),
                 time.perf_counter() - t0)
        return y
