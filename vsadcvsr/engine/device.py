"""Devices and precisions: names users type → torch objects, with clear errors."""
from __future__ import annotations

import torch

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(device: str | int | torch.device | None = None) -> torch.device:
    """'cpu', 'cuda', 'cuda:N', an int N (= cuda:N) or None (cuda:0 when available, else cpu)."""
    if device is None:
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if isinstance(device, int):
        device = f"cuda:{device}"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r} (use 'cpu', 'cuda' or 'cuda:N')") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but CUDA is not available")
        index = 0 if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", index)
    if dev.type != "cpu":
        raise ValueError(f"unsupported device {device!r} (use 'cpu' or 'cuda:N')")
    return dev


def cpu_bf16_native() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX-BF16): there bf16 convolutions run about
    twice as fast as fp32 ones; elsewhere they are emulated, and slower."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device, bf16_on_cpu: bool = False) -> torch.dtype:
    """'fp32' | 'fp16' | 'bf16' | 'auto': fp16 on CUDA; on the CPU fp32, or bf16 where `bf16_on_cpu` (a network
    that keeps the picture itself in fp32, as `compact` does) and the CPU does bf16 in hardware."""
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if bf16_on_cpu and cpu_bf16_native() else torch.float32
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise ValueError(f"unknown precision {precision!r} (use fp32, fp16, bf16 or auto)") from None


def available_memory(device: torch.device) -> int:
    """Bytes free for activations: CUDA's free memory, or MemAvailable on the CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30
