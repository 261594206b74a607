"""The inference core: a loaded model on a device, run on a window of frames (tiles, precision, colour fix)."""
from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

from ..checkpoint import CheckpointInfo, load_model, read_info, resolve_model_path
from ..model import CompactConfig, Student
from .colour_fix import apply_colour_fix, colour_fix_mode
from .device import available_memory, resolve_device, resolve_precision
from .heap import keep_freed_memory
from .tiles import run_tiled

log = logging.getLogger("vsadcvsr")

_MODELS: dict[tuple[str, str, torch.dtype], tuple[Student, CheckpointInfo]] = {}
_MODELS_LOCK = threading.Lock()


def shared_model(path: Path, device: torch.device, dtype: torch.dtype) -> tuple[Student, CheckpointInfo]:
    """One model instance per (file, device, dtype) for the whole process: filters and threads share it."""
    key = (str(path.resolve()), str(device), dtype)
    with _MODELS_LOCK:
        if key not in _MODELS:
            model, info = load_model(path, device)
            model = model.to(dtype=dtype, memory_format=torch.channels_last)
            model.requires_grad_(False)
            _MODELS[key] = (model, info)
            log.info("loaded %s on %s (%s)", path.name, device, str(dtype).removeprefix("torch."))
        return _MODELS[key]


def estimate_bytes(model: Student, frames: int, h: int, w: int, dtype: torch.dtype, render_chunk: int) -> int:
    """A rough upper bound of activation memory for one window of (frames, 3, h, w) LR input."""
    cfg = model.cfg
    size = torch.finfo(dtype).bits // 8
    if isinstance(cfg, CompactConfig):  # a few C-channel maps per frame at LR size (padded), the x4 output
        px = (h + 2 * cfg.pad) * (w + 2 * cfg.pad)
        return int((cfg.channels * 4 * px * frames + 3 * 16 * px * min(frames, render_chunk or frames) * 2)
                   * size * 1.5)
    latent_px = h * w / 4
    unet = sum(c * 6 / 4**i for i, c in enumerate(cfg.widths)) * latent_px * frames
    attn_levels = [i for i, a in enumerate(cfg.attention) if a]
    if attn_levels:  # SDPA may materialise (tokens x tokens) per head on some backends
        i = attn_levels[0]
        tokens = latent_px / 4**i
        unet += tokens * tokens * max(1, cfg.widths[i] // cfg.head_dim) * min(frames, 2)
    dec_px = latent_px * 4 ** sum(cfg.decoder_upsample)
    decoder = max(cfg.decoder_widths) * 4 * dec_px * min(frames, render_chunk or frames)
    return int((unet + decoder) * size * 1.5)


class Upscaler:
    """x4 upscaling of windows of frames with one shared model.

    :param model:         bundled model name ("default") or a vsadcvsr checkpoint path
    :param device:        "cpu", "cuda", "cuda:N", an int N, or None (CUDA when available)
    :param precision:     "fp32", "fp16", "bf16" or "auto" (fp16 on CUDA; CPU: bf16 for compact models on
                          CPUs with AVX512-BF16/AMX, else fp32)
    :param tile:          LR tile size in pixels; 0 picks one automatically when a window would not fit in memory
    :param tile_overlap:  LR pixels shared by neighbouring tiles (blended with cosine weights)
    :param colour_fix:    AdcSR's colour correction against the input: "wavelet" (low frequencies from the input,
                          per frame), "adain" (per-channel mean/std over the window), "none"; True = "wavelet"
    :param num_streams:   windows processed at once (CUDA: one CUDA stream each)
    :param render_chunk:  frames the decoder renders at a time (it has no temporal layers)
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = "default",
        device: str | int | torch.device | None = "cpu",
        precision: str = "auto",
        tile: int = 0,
        tile_overlap: int = 32,
        colour_fix: bool | str = True,
        num_streams: int = 1,
        render_chunk: int = 4,
    ) -> None:
        if tile < 0 or tile_overlap < 0:
            raise ValueError("tile and tile_overlap must not be negative")
        if num_streams < 1:
            raise ValueError(f"num_streams must be at least 1, not {num_streams}")
        self.device = resolve_device(device)
        if self.device.type == "cpu":
            keep_freed_memory()  # reuse freed activations' pages: ~2x faster on the CPU (engine/heap.py)
        self.path = resolve_model_path(model)
        compact = isinstance(read_info(self.path).config, CompactConfig)
        self.dtype = resolve_precision(precision, self.device, bf16_on_cpu=compact)
        self.model, self.info = shared_model(self.path, self.device, self.dtype)
        self.scale = self.model.cfg.scale
        self.tile = tile
        self.tile_overlap = tile_overlap
        self.colour_fix = colour_fix_mode(colour_fix)
        self.render_chunk = render_chunk
        self._slots = threading.Semaphore(num_streams)
        self._streams: list[torch.cuda.Stream | None] = (
            [torch.cuda.Stream(self.device) for _ in range(num_streams)] if self.device.type == "cuda" else []
        )
        self._streams_lock = threading.Lock()

    @property
    def size_multiple(self) -> int:
        return self.model.cfg.size_multiple

    def auto_tile(self, frames: int, h: int, w: int) -> int:
        """0 when the whole frame fits the memory budget (half of what is free), else the largest tile that fits."""
        budget = available_memory(self.device) // 2
        if estimate_bytes(self.model, frames, h, w, self.dtype, self.render_chunk) <= budget:
            return 0
        m = self.size_multiple
        tile = max(h, w) // m * m
        while tile > 2 * m and estimate_bytes(self.model, frames, tile, tile, self.dtype, self.render_chunk) > budget:
            tile = tile * 3 // 4 // m * m
        return max(tile, 2 * m)

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
        # the compact network takes fp32 frames whatever its weights' dtype, and adds its detail to them in fp32
        y = x if isinstance(self.model.cfg, CompactConfig) else x.to(self.dtype)
        y = y.contiguous(memory_format=torch.channels_last)
        return self.model(y[None], render_chunk=self.render_chunk)[0].float()

    @torch.inference_mode()
    def upscale_window(self, frames: Tensor) -> Tensor:
        """(T, 3, h, w) RGB in [0, 1] (any device) → (T, 3, 4h, 4w) float32 RGB in [0, 1] on `self.device`."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"expected frames (T, 3, h, w), got {tuple(frames.shape)}")
        with self._slot() as stream:
            x = frames.to(self.device, torch.float32, non_blocking=True) * 2 - 1
            t, _, h, w = x.shape
            tile = self.tile or self.auto_tile(t, h, w)
            if tile:
                y = run_tiled(self._net, x, tile, self.tile_overlap, self.scale, self.size_multiple)
            else:
                y = self._net(x)
            y = apply_colour_fix(self.colour_fix, y, x)
            y = (y * 0.5 + 0.5).clamp_(0, 1)
            if stream is not None:
                stream.synchronize()
            return y
