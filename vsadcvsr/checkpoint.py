"""Checkpoints: safetensors files whose metadata carries the config, scale, provenance and licence."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from .files import atomic_write
from .model import ModelConfig, Student, build_model, config_from_json

FORMAT = "vsadcvsr/1"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: Bundled models: name → file in `vsadcvsr/weights/`. "default" is the model `Upscale` uses when none is named;
#: "compact-s2" is the default after 1454 steps of the stage-2 recipe with a strong sub-pixel grid term (its
#: adversarial term off: run W of MODEL_CARD.md): without the default's 4-px screen door;
#: "tiny" is the faster AdcSR-shaped student that was the default until 2026-12-01 (see MODEL_CARD.md).
BUNDLED: dict[str, str] = {"default": "compact.safetensors", "compact-s2": "compact-s2.safetensors",
                           "tiny": "tiny.safetensors"}


class CheckpointError(ValueError):
    """A checkpoint that is missing, not ours, or does not fit its network."""


def refused_pickle(error: Exception) -> str:
    """Why `torch.load(weights_only=True)` refused a file, in our words (torch's advice to load it with
    weights_only=False, i.e. to run its code, is not passed on)."""
    found = re.search(r"GLOBAL (\S+)", str(error))
    what = f"it names {found.group(1)}" if found else "it is not a plain tensor file"
    return f"{what}, and vsadcvsr reads only tensors and plain data from such files (no code in them is run)"


@dataclass(frozen=True)
class CheckpointInfo:
    config: ModelConfig
    metadata: dict[str, str]


def save_checkpoint(
    path: str | os.PathLike[str],
    state: dict[str, Tensor],
    config: ModelConfig,
    *,
    provenance: str,
    licence: str,
    extra: dict[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Writes `state` with metadata, atomically (a temporary file beside the target, then a rename).

    `dtype` (e.g. torch.float16) stores the floating-point tensors in that type; `load_model` reads them back as fp32.
    """
    meta = {
        "format": FORMAT,
        "config": config.to_json(),
        "scale": str(config.scale),
        "provenance": provenance,
        "licence": licence,
        **(extra or {}),
    }
    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    with atomic_write(path) as tmp:
        save_file(tensors, tmp, metadata=meta)


def read_info(path: str | os.PathLike[str]) -> CheckpointInfo:
    """Reads only the metadata; raises CheckpointError if the file is absent or not a vsadcvsr checkpoint."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"{p} is not a safetensors file ({e})") from None
    if meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{p} is not a vsadcvsr checkpoint (no '{FORMAT}' metadata)")
    try:
        config = config_from_json(meta["config"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{p}: its configuration cannot be read ({e})") from None
    return CheckpointInfo(config, meta)


def check_finite(state: dict[str, Tensor], source: str) -> None:
    """Raises CheckpointError naming the floating-point tensors that hold NaN or infinity (they give black video)."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{source} has non-finite weights (NaN or inf) in {len(bad)} tensor(s): "
                              + ", ".join(bad[:5]) + (", ..." if len(bad) > 5 else ""))


def load_state_into(model: torch.nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Strict load that names the missing, unexpected, mis-shaped and non-finite tensors."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
    if wrong:
        problems.append(f"{len(wrong)} with the wrong shape (e.g. {'; '.join(wrong[:3])})")
    if problems:
        raise CheckpointError(f"{source} does not fit the network: " + ", ".join(problems))
    check_finite(state, source)
    model.load_state_dict(state, strict=True, assign=True)


def read_state(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """The checkpoint's tensors as stored (their own dtypes), on `device`."""
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[Student, CheckpointInfo]:
    """Builds the network on the meta device and assigns the checkpoint's tensors as fp32 (no wasted init)."""
    info = read_info(path)
    with torch.device("meta"):
        model = build_model(info.config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in read_state(path, device).items()}
    load_state_into(model, state, str(path))
    model.eval()
    return cast(Student, model), info


def resolve_model_path(model: str | os.PathLike[str]) -> Path:
    """A bundled name ('default', ...) or a path → an existing checkpoint file; CheckpointError otherwise."""
    name = str(model)
    if name in BUNDLED:
        p = WEIGHTS_DIR / BUNDLED[name]
        if not p.is_file():
            raise CheckpointError(
                f"the bundled model {name!r} is not trained yet ({p.name} is not in the package); "
                "pass model= a checkpoint path, e.g. one made by 'python -m vsadcvsr import-adcsr'"
            )
        return p
    p = Path(name).expanduser()
    if p.is_file():
        return p
    if p.suffix in (".safetensors", ".pt", ".pth", ".ckpt", ".pkl") or os.sep in name:
        raise CheckpointError(f"checkpoint not found: {p}")
    raise CheckpointError(f"unknown model {name!r}; bundled models: {', '.join(BUNDLED)}, or give a checkpoint path")
