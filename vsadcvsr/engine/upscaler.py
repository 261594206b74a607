"""The inference core: a loaded model on a device, run on a window of frames (tiles, precision, colour fix)."""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..checkpoint import CheckpointInfo, load_model, read_info, resolve_model_path
from ..model import EngineHints, engine_hints
from .backends import backend_network
from .colour_fix import apply_colour_fix
from .compiled import CompiledNetwork
from .device import available_memory, resolve_device, resolve_precision
from .heap import keep_freed_memory, trim_if_due
from .int8 import CalibrationSource, int8_support, shared_int8_model
from .settings import Settings
from .tiles import run_tiled

log = logging.getLogger("vsadcvsr")

#: Finished windows whose output frames have at least this many pixels are kept in fp16 (half the memory; within
#: 1/8 of an 8-bit level): from 4K output up (720p and 1080p input at x4).
LARGE_OUTPUT_PX = 8_000_000

_MODELS: dict[tuple[str, str, torch.dtype], tuple[nn.Module, CheckpointInfo]] = {}
_MODELS_LOCK = threading.Lock()


def shared_model(path: Path, device: torch.device, dtype: torch.dtype) -> tuple[nn.Module, CheckpointInfo]:
    """One model instance per (file, device, dtype) for the whole process: filters and threads share it."""
    key = (str(path.resolve()), str(device), dtype)
    with _MODELS_LOCK:
        if key not in _MODELS:
            model, info = load_model(path, device)
            model = model.to(dtype=dtype, memory_format=torch.channels_last)  # type: ignore[call-overload]
            model.requires_grad_(False)
            _MODELS[key] = (model, info)
            log.info("loaded %s on %s (%s)", path.name, device, str(dtype).removeprefix("torch."))
        return _MODELS[key]


class Upscaler:
    """x4 upscaling of windows of frames with one shared model.

    :param model:         bundled model name ("default") or a vsadcvsr checkpoint path
    :param settings:      the engine's `Settings` (device, precision, tiles, colour fix, streams, memory); None:
                          the defaults on the CPU
    :param render_chunk:  frames the decoder renders at a time (it has no temporal layers)
    :param calibration:   frames that calibrate precision "int8" where no calibration is shipped or cached
                          (engine/int8.py); the adapters pass `vsadcvsr.material.INT8_CALIBRATION`
    :param changes:       single settings, over `settings` (e.g. `Upscaler("default", tile=64)`)
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = "default",
        settings: Settings | None = None,
        *,
        render_chunk: int = 4,
        calibration: CalibrationSource | None = None,
        **changes: Any,
    ) -> None:
        base = settings if settings is not None else Settings(device="cpu")
        self.settings = base.replace(**changes) if changes else base
        int8 = self.settings.precision == "int8"
        # int8 runs on the CPU: with no device given it is the CPU even where CUDA is available
        self.device = resolve_device("cpu" if int8 and self.settings.device is None else self.settings.device)
        if self.device.type == "cpu":
            keep_freed_memory()  # reuse freed activations' pages: ~2x faster on the CPU (engine/heap.py)
        self.path = resolve_model_path(model)
        config = read_info(self.path).config
        self.hints: EngineHints = engine_hints(config)
        if int8:  # int8 convolutions, the rest in fp32 (engine/int8.py)
            self.dtype = torch.float32  # the CPU and the torch backend: Settings checked them
            self.model, self.info = shared_int8_model(self.path, int8_support(self.path), calibration)
        else:
            self.dtype = resolve_precision(self.settings.precision, self.device, bf16_on_cpu=self.hints.cpu_bf16)
            self.model, self.info = shared_model(self.path, self.device, self.dtype)
        self.backend = self.settings.backend
        # torch.compile for the shapes that recur (engine/compiled.py); None: the network as it is
        self.compiled = CompiledNetwork(self.model) if self.settings.compile else None
        self.network = None if self.backend == "torch" else backend_network(
            self.backend, self.path, self.device, self.settings.precision, self.settings.num_streams)
        self.scale = self.hints.scale
        self.colour_fix = self.settings.colour_fix
        self.render_chunk = render_chunk
        self.net_budget: int | None = None  # bytes for the network's working memory (fit_window); None: 3/4 budget
        num_streams = self.settings.num_streams
        self._slots = threading.Semaphore(num_streams)
        self._streams: list[torch.cuda.Stream | None] = (
            [torch.cuda.Stream(self.device) for _ in range(num_streams)] if self.device.type == "cuda" else []
        )
        self._streams_lock = threading.Lock()

    @property
    def size_multiple(self) -> int:
        return self.hints.size_multiple

    def estimate_bytes(self, frames: int, h: int, w: int) -> int:
        """A rough upper bound of the working memory of one window of (frames, 3, h, w) LR input."""
        size = torch.finfo(self.dtype).bits // 8
        return self.hints.memory_bytes(frames, h, w, size, self.render_chunk)

    def memory_budget(self) -> int:
        """Bytes the engine may use now: `max_memory`, or half of what the device has free."""
        return self.settings.memory_budget(available_memory(self.device))

    def window_cache_bytes(self) -> int:
        """The share of the budget for computed windows kept for later frames: a quarter."""
        return self.memory_budget() // 4

    def auto_tile(self, frames: int, h: int, w: int) -> int:
        """0 when the whole frame fits the working-memory budget (three quarters of the budget; the rest is for
        cached windows; `fit_window` narrows it to what the frames leave), else the largest square tile that fits."""
        budget = self.memory_budget() * 3 // 4 if self.net_budget is None else self.net_budget
        if self.estimate_bytes(frames, h, w) <= budget:
            return 0
        m = self.size_multiple
        tile = max(h, w) // m * m
        while tile > 2 * m and self.estimate_bytes(frames, tile, tile) > budget:
            tile = tile * 3 // 4 // m * m
        return max(tile, 2 * m)

    def output_dtype(self, h: int, w: int) -> torch.dtype:
        """The dtype of finished windows for (h, w) input: fp16 from LARGE_OUTPUT_PX output pixels, else fp32."""
        return torch.float16 if h * w * self.scale**2 >= LARGE_OUTPUT_PX else torch.float32

    def frames_bytes(self, frames: int, h: int, w: int, served_frames: int = 4) -> int:
        """Memory of serving (h, w) frames in windows of `frames`, the network and the window cache aside: the
        window's fp32 output, the colour fix of one frame, the two finished windows a frame is cross-faded from
        (`output_dtype`) and `served_frames` fp32 output frames on their way out (VapourSynth's frames)."""
        out_px = 3 * h * w * self.scale**2
        kept = 2 * frames * out_px * torch.finfo(self.output_dtype(h, w)).bits // 8
        return (frames + 4 + served_frames) * out_px * 4 + kept

    def smallest_net_bytes(self, frames: int, h: int, w: int) -> int:
        """The network's working memory on a window of `frames` in the smallest tiles (or the tile set)."""
        tw, th = self.settings.tile if not self.settings.automatic_tile else (2 * self.size_multiple,) * 2
        return self.estimate_bytes(frames, min(th, h), min(tw, w))

    def fit_window(self, h: int, w: int, limit: int) -> int:
        """The most frames per window (<= `limit`) whose frames and network fit three quarters of the budget (the
        rest is the window cache's), the network tiled into what the frames leave (sets `net_budget`, which
        automatic tiles then respect); 0 if not even one frame fits."""
        budget = self.memory_budget() * 3 // 4
        for frames in range(limit, 0, -1):
            rest = budget - self.frames_bytes(frames, h, w)
            if rest > 0 and rest >= self.smallest_net_bytes(frames, h, w):
                self.net_budget = rest
                return frames
        return 0

    def tiles_for(self, frames: int, h: int, w: int) -> tuple[tuple[int, int], int] | None:
        """((tile width, tile height), tile overlap) for a window of (frames, 3, h, w), or None for whole frames.

        A tile the user set is used as it is; an automatic one caps the overlap at a quarter of the tile."""
        overlap = self.settings.tile_overlap
        if not self.settings.automatic_tile:
            return self.settings.tile, overlap
        tile = self.auto_tile(frames, h, w)
        return ((tile, tile), min(overlap, tile // 4)) if tile else None

    @contextmanager
    def _slot(self) -> Iterator[torch.cuda.Stream | None]:
        with self._slots:
            if not self._streams:
                yield None
                return
            with self._streams_lock:
                stream = self._streams.pop()
            try:
                with torch.cuda.stream(stream):
                    yield stream
            finally:
                with self._streams_lock:
                    self._streams.append(stream)

    def _net(self, x: Tensor) -> Tensor:
        """(T, 3, h, w) in [-1, 1] → (T, 3, 4h, 4w) in [-1, 1], float32."""
        if self.network is not None:  # ONNX Runtime, OpenVINO, TensorRT: same call, same windows and tiles
            return self.network(x[None])[0]
        y = x if self.hints.fp32_input else x.to(self.dtype)
        y = y.contiguous(memory_format=torch.channels_last)
        net = self.model if self.compiled is None else self.compiled
        return net(y[None], render_chunk=self.render_chunk)[0].float()

    @torch.inference_mode()
    def upscale_window(self, frames: Tensor) -> Tensor:
        """(T, 3, h, w) RGB in [0, 1] (any device) → (T, 3, 4h, 4w) RGB in [0, 1] on `self.device`, float32
        (fp16 for large output frames: `output_dtype`)."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"expected frames (T, 3, h, w), got {tuple(frames.shape)}")
        with self._slot() as stream:
            x = frames.to(self.device, torch.float32, non_blocking=True) * 2 - 1
            t, _, h, w = x.shape
            tiles = self.tiles_for(t, h, w)
            if tiles is not None:
                y = run_tiled(self._net, x, tiles[0], tiles[1], self.scale, self.size_multiple)
            else:
                y = self._net(x)
            y = apply_colour_fix(self.colour_fix, y, x)  # in place, one frame's temporaries at a time
            y = y.mul_(0.5).add_(0.5).clamp_(0, 1).to(self.output_dtype(h, w))
            if stream is not None:
                stream.synchronize()
        trim_if_due()  # freed pages kept by the CPU heap settings go back now and then (engine/heap.py)
        return y
