"""Runtimes other than PyTorch for the network: ONNX Runtime, OpenVINO, and TensorRT through ONNX Runtime.

A backend network is called like the torch network in the engine (`net(x, render_chunk=...)`, x (B, T, 3, h, w)
in [-1, 1] → (B, T, 3, 4h, 4w) in [-1, 1], float32), so windows, tiles and the colour fix are the same for every
backend. It runs the ONNX export of the checkpoint (`vsadcvsr.export_onnx`, dynamic T/H/W, fp32), made once per
checkpoint into the cache folder: `$VSADCVSR_CACHE/onnx/`, by default `~/.cache/vsadcvsr/onnx/`.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..checkpoint import read_info
from ..export_onnx import (
    DEFAULT_OPSET,
    INPUT,
    OUTPUT,
    ExportShape,
    export_onnx,
    exports_dynamic,
    file_digest,
    min_size,
    read_metadata,
)
from ..extras import MissingExtra, require
from .device import cpu_bf16_native

log = logging.getLogger("vsadcvsr")

BACKENDS = ("torch", "onnxruntime", "openvino", "tensorrt")
#: The modules each backend needs (the export, then the runtime), and the extra that installs them.
PACKAGES = {"onnxruntime": (("onnx", "onnxscript", "onnxruntime"), "onnx"),
            "openvino": (("onnx", "onnxscript", "openvino"), "openvino"),
            "tensorrt": (("onnx", "onnxscript", "onnxruntime"), "onnx")}

Network = Callable[..., Tensor]


class BackendError(ValueError):
    """A backend that is unknown, not installed, or cannot run on the device or precision asked for."""


def check_backend(backend: str) -> str:
    """The backend name, or BackendError naming the known ones."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r} (use {', '.join(BACKENDS)})")
    return backend


def cache_dir() -> Path:
    """$VSADCVSR_CACHE, else $XDG_CACHE_HOME/vsadcvsr, else ~/.cache/vsadcvsr."""
    if os.environ.get("VSADCVSR_CACHE"):
        return Path(os.environ["VSADCVSR_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "vsadcvsr"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (another process exporting the same model waits, then finds the file)."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached_export(checkpoint: Path, opset: int = DEFAULT_OPSET) -> Path:
    """The dynamic fp32 ONNX export of `checkpoint` in the cache, made on first use (keyed by the checkpoint's
    SHA-256, the opset and the torch version that exported it)."""
    folder = cache_dir() / "onnx"
    folder.mkdir(parents=True, exist_ok=True)
    digest = file_digest(checkpoint)[:16]
    version = torch.__version__.split("+")[0]
    path = folder / f"{checkpoint.stem}-{digest}-opset{opset}-torch{version}-dynamic.onnx"
    with _locked(folder / (path.name + ".lock")):
        if not path.is_file():
            log.info("exporting %s to ONNX once (%s)", checkpoint.name, path)
            cfg = read_info(checkpoint).config
            if not exports_dynamic(cfg):
                raise BackendError(f"backends other than torch run networks whose ONNX export takes any frame size "
                                   f"(the default model's family); the export of {checkpoint.name}'s family "
                                   "with free sizes does not finish in reasonable time: use backend='torch', or "
                                   "'python -m vsadcvsr export-onnx' for one fixed size")
            low = min_size(cfg)
            side = max(64, 2 * low) // cfg.size_multiple * cfg.size_multiple
            export_onnx(checkpoint, path, ExportShape(frames=4, width=side, height=side, dynamic=True), opset)
    return path


def _require(backend: str) -> Any:
    """Imports what `backend` needs; returns its runtime module; BackendError naming the extra otherwise."""
    modules, extra = PACKAGES[backend]
    for module in modules:
        try:
            runtime = require(module, extra)
        except MissingExtra as e:
            raise BackendError(f"backend {backend!r}: {e}") from None
    return runtime


class RuntimeNetwork:
    """The engine's network call on a runtime's `run` (frames (T, 3, h, w) float32 [0, 1] → (T, 3, 4h, 4w))."""

    name = ""
    precision = "fp32"

    def __init__(self, onnx_path: Path, device: torch.device) -> None:
        self.device = device
        self.min_size = int(read_metadata(onnx_path).get("vsadcvsr.min_size", "1"))

    def run(self, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: Tensor, render_chunk: int = 0) -> Tensor:
        """(B, T, 3, h, w) in [-1, 1] → (B, T, 3, 4h, 4w) float32 in [-1, 1] (`render_chunk` is not used)."""
        if x.dim() != 5 or x.shape[2] != 3:
            raise ValueError(f"backend {self.name}: expected (B, T, 3, h, w), got {tuple(x.shape)}")
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(f"backend {self.name}: frames or tiles of {x.shape[-1]}x{x.shape[-2]} are too small "
                             f"for the exported network (at least {self.min_size} pixels each way)")
        outs = []
        for clip in x:
            frames = (clip.float() * 0.5 + 0.5).cpu().contiguous().numpy()
            outs.append(torch.from_numpy(self.run(frames)).to(self.device) * 2 - 1)
        return torch.stack(outs)


class OnnxRuntimeNetwork(RuntimeNetwork):
    """The export in an ONNX Runtime session: CPU, or TensorRT (with CUDA as fallback for unsupported nodes) on an
    NVIDIA GPU. Inputs and outputs go through host memory (one copy each way)."""

    def __init__(self, onnx_path: Path, device: torch.device, precision: str, tensorrt: bool = False,
                 threads: int = 0) -> None:
        super().__init__(onnx_path, device)
        ort = _require("tensorrt" if tensorrt else "onnxruntime")
        name = "tensorrt" if tensorrt else "onnxruntime"
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if tensorrt:
            if device.type != "cuda":
                raise BackendError("backend 'tensorrt' runs on an NVIDIA GPU: give device='cuda' (or 'cuda:N')")
            available = ort.get_available_providers()
            if "TensorrtExecutionProvider" not in available:
                raise BackendError("backend 'tensorrt' needs ONNX Runtime's TensorRT provider (onnxruntime-gpu and "
                                   f"TensorRT); this ONNX Runtime has {', '.join(available)}")
            if precision not in ("auto", "fp16", "fp32"):
                raise BackendError(f"backend 'tensorrt' runs fp32 or fp16, not {precision}")
            trt_cache = onnx_path.parent / "tensorrt"
            trt_cache.mkdir(exist_ok=True)
            index = device.index or 0
            providers: list[Any] = [
                ("TensorrtExecutionProvider", {"device_id": index, "trt_fp16_enable": precision != "fp32",
                                               "trt_engine_cache_enable": True,
                                               "trt_engine_cache_path": str(trt_cache)}),
                ("CUDAExecutionProvider", {"device_id": index}),
            ]
            self.precision = "fp32" if precision == "fp32" else "fp16"
        else:
            if device.type != "cpu":
                raise BackendError(f"backend 'onnxruntime' runs on the CPU here; for {device} use 'tensorrt' "
                                   "(or the torch backend)")
            if precision not in ("auto", "fp32"):
                raise BackendError(f"backend 'onnxruntime' runs fp32 on the CPU, not {precision} "
                                   "(use backend='openvino' or 'torch' for bf16)")
            opts.intra_op_num_threads = threads or torch.get_num_threads()
            providers = ["CPUExecutionProvider"]
            self.precision = "fp32"
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=providers)
        self.name = name

    def run(self, frames: np.ndarray) -> np.ndarray:
        """(T, 3, h, w) float32 in [0, 1] → (T, 3, 4h, 4w); concurrent calls are safe (ONNX Runtime sessions are)."""
        return self.session.run([OUTPUT], {INPUT: frames})[0]


class OpenVinoNetwork(RuntimeNetwork):
    """The export compiled by OpenVINO for its CPU plugin, one infer request per concurrent caller."""

    def __init__(self, onnx_path: Path, device: torch.device, precision: str, num_streams: int = 1,
                 threads: int = 0) -> None:
        super().__init__(onnx_path, device)
        ov = _require("openvino")
        if device.type != "cpu":
            raise BackendError(f"backend 'openvino' runs on the CPU here, not {device}")
        if precision == "auto":
            precision = "bf16" if cpu_bf16_native() else "fp32"
        hints = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
        if precision not in hints:
            raise BackendError(f"unknown precision {precision!r} for backend 'openvino' (fp32, bf16, fp16, auto)")
        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": hints[precision], "NUM_STREAMS": str(num_streams),
                  "INFERENCE_NUM_THREADS": str(threads or torch.get_num_threads()), "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", config)
        self.precision = precision
        self.name = "openvino"
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(num_streams):
            self._requests.put(self.compiled.create_infer_request())

    def run(self, frames: np.ndarray) -> np.ndarray:
        """(T, 3, h, w) float32 in [0, 1] → (T, 3, 4h, 4w); callers beyond num_streams wait for a request."""
        request = self._requests.get()
        try:
            request.infer({INPUT: frames})
            return np.array(request.get_output_tensor(0).data, copy=True)
        finally:
            self._requests.put(request)


def backend_network(backend: str, checkpoint: Path, device: torch.device, precision: str = "auto",
                    num_streams: int = 1, threads: int = 0) -> RuntimeNetwork:
    """A runtime network for `backend` (not "torch") from `checkpoint`'s cached ONNX export.

    `precision`: onnxruntime fp32 (CPU); openvino fp32 | bf16 | fp16 | auto (bf16 where the CPU does bf16 in
    hardware); tensorrt fp16 (auto) | fp32. `num_streams`: OpenVINO infer requests (= CPU streams) that may run at
    once. `threads`: CPU threads (0: torch's)."""
    check_backend(backend)
    if backend == "torch":
        raise BackendError("backend_network: 'torch' is the engine's own network")
    if backend == "tensorrt" and device.type != "cuda":
        raise BackendError("backend 'tensorrt' needs an NVIDIA GPU: give device='cuda' (this run is on the CPU)")
    if backend != "tensorrt" and device.type != "cpu":
        raise BackendError(f"backend {backend!r} runs on the CPU here; on {device} use 'tensorrt' or 'torch'")
    _require(backend)
    path = cached_export(checkpoint)
    if backend == "openvino":
        return OpenVinoNetwork(path, device, precision, num_streams, threads)
    return OnnxRuntimeNetwork(path, device, precision, tensorrt=backend == "tensorrt", threads=threads)
