"""Host planes (numpy views of VapourSynth frames, possibly read-only and row-strided) to tensors and back.

CPU: zero-copy views both ways where the dtype allows. CUDA: one stride-aware host copy into a reusable pinned
buffer, then one asynchronous DMA on the caller's stream; buffers are pooled and reused only once the copy that
last read them has finished, so concurrent frame callbacks can share the pool.
"""
from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np
import torch
from torch import Tensor

__all__ = ["plane_to_tensor", "tensor_to_plane"]


class _PinnedPool:
    """Pinned host buffers by (shape, dtype), each handed out again only after its last copy completed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[tuple[tuple[int, ...], torch.dtype], list[tuple[Tensor, torch.cuda.Event | None]]]
        self._free = defaultdict(list)

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        with self._lock:
            free = self._free[(shape, dtype)]
            entry = free.pop() if free else None
        if entry is None:
            return torch.empty(shape, dtype=dtype, pin_memory=True)
        buf, done = entry
        if done is not None:
            done.synchronize()
        return buf

    def give(self, buf: Tensor, done: torch.cuda.Event | None) -> None:
        with self._lock:
            self._free[(tuple(buf.shape), buf.dtype)].append((buf, done))


_pool = _PinnedPool()


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=dtype.newbyteorder("="))).dtype


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    try:
        return torch.empty(0, dtype=dtype).numpy().dtype
    except TypeError:
        raise ValueError(f"tensor dtype {dtype} has no numpy equivalent") from None


def _as_tensor_view(plane: np.ndarray) -> Tensor:
    """A zero-copy CPU tensor over `plane` (read-only arrays included); copies only a dtype DLPack lacks."""
    try:
        return torch.from_dlpack(plane)
    except (BufferError, TypeError, RuntimeError):
        # Non-native byte order or a dtype torch cannot share: one converting copy.
        return torch.from_numpy(np.ascontiguousarray(plane, dtype=plane.dtype.newbyteorder("=")))


def plane_to_tensor(plane: np.ndarray, device: torch.device, stream: torch.cuda.Stream | None = None) -> Tensor:
    """A (H, W) numpy plane -> a tensor of the same dtype and values on `device`.

    CPU: a zero-copy view sharing `plane`'s memory and strides (treat it as read-only when `plane` is).
    CUDA: one stride-aware copy into a pooled pinned buffer, then a non-blocking upload issued on `stream`
    (the current stream when None). The tensor is allocated on `stream`: a caller computing on another stream
    waits on `stream` first (`wait_stream`) and calls `record_stream` on the tensor.
    """
    if not isinstance(plane, np.ndarray) or plane.ndim != 2:
        raise ValueError("plane must be a 2-D numpy array")
    device = torch.device(device)
    if device.type == "cpu":
        return _as_tensor_view(plane)
    if device.type != "cuda":
        return _as_tensor_view(plane).to(device)
    buf = _pool.take(tuple(plane.shape), _torch_dtype(plane.dtype))
    np.copyto(buf.numpy(), plane, casting="equiv")
    stream = stream if stream is not None else torch.cuda.current_stream(device)
    with torch.cuda.stream(stream):
        t = buf.to(device, non_blocking=True)
        done = torch.cuda.Event()
        done.record(stream)
    _pool.give(buf, done)
    return t


def tensor_to_plane(t: Tensor, out: np.ndarray) -> None:
    """Write a (H, W) tensor into `out`, a writable (possibly row-strided) numpy plane of the same shape and dtype.

    CPU tensors go straight into `out`'s memory; CUDA tensors come back through a pooled pinned buffer. Returns
    once `out` holds the values.
    """
    if t.dim() != 2 or tuple(t.shape) != out.shape:
        raise ValueError(f"tensor of shape {tuple(t.shape)} does not fit a plane of shape {out.shape}")
    if not out.flags.writeable:
        raise ValueError("out must be writable")
    if _numpy_dtype(t.dtype) != out.dtype:
        raise ValueError(f"tensor dtype {t.dtype} does not match plane dtype {out.dtype}")
    t = t.detach()
    if t.device.type == "cuda":
        buf = _pool.take(tuple(t.shape), t.dtype)
        stream = torch.cuda.current_stream(t.device)
        buf.copy_(t, non_blocking=True)
        done = torch.cuda.Event()
        done.record(stream)
        done.synchronize()
        np.copyto(out, buf.numpy(), casting="equiv")
        _pool.give(buf, None)
        return
    np.copyto(out, t.cpu().numpy(), casting="equiv")
