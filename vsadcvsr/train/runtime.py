"""Where a run executes: CUDA arithmetic precision and torch.distributed set-up (torchrun)."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

TF32_HELP = ("allow TF32 convolutions and matmuls on CUDA (faster; off by default: on an H200 the gradient norm of "
             "`tiny` reached 1e2-1e6 with them, against 2-5 on the CPU from the same state and data)")


def set_cuda_precision(tf32: bool) -> None:
    """Full fp32 arithmetic on CUDA unless `tf32` (PyTorch's own default runs convolutions in TF32)."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def setup_distributed() -> bool:
    """Initialises torch.distributed from torchrun's environment (gloo on the CPU, nccl on GPUs); False if alone."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return True
