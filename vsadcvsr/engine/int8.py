"""`precision="int8"` in the engine: where it may run, where a network's activation ranges come from, one int8
network per checkpoint.

The network side (what is quantised, how) is its family's (`EngineHints.int8`, e.g. `model/compact_int8.py`).
A network's activation ranges (its calibration) come from, in this order:

1. beside the checkpoint: `NAME.int8.json` (the bundled default ships one, so int8 needs nothing more);
2. the cache, `$VSADCVSR_CACHE/int8/`, where an earlier process wrote them;
3. a calibration now, on the frames the adapter passes (`CalibrationSource`; the adapters pass
   `vsadcvsr.material.INT8_CALIBRATION`, 16 training frames of bikes.mp4: about 30 s on 2 cores), then cached.

A calibration record names the checkpoint's SHA-256, the scheme and the frames; a record for other weights or
another scheme is not used.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ..checkpoint import CheckpointInfo, load_model, read_info
from ..export_onnx import file_digest
from ..model import Int8Error, Int8Support, QParams, engine_hints
from .backends import cache_dir
from .device import cpu_bf16_native

log = logging.getLogger("vsadcvsr")

_MODELS: dict[str, tuple[nn.Module, CheckpointInfo]] = {}
_MODELS_LOCK = threading.Lock()


class CalibrationSource(Protocol):
    """Frames that calibrate an int8 network: `name` identifies them, `windows()` gives them as a list of
    (T, 3, h, w) float32 arrays in [-1, 1] (one shot each)."""

    @property
    def name(self) -> str: ...

    def windows(self) -> Sequence[Any]: ...


def int8_support(checkpoint: Path) -> Int8Support:
    """How `checkpoint`'s network runs in int8 (its family's `EngineHints.int8`); Int8Error for a family without an
    int8 mode. Where int8 may run (the CPU, the torch backend) is the engine's `Settings`' to check."""
    support = engine_hints(read_info(checkpoint).config).int8
    if support is None:
        raise Int8Error("precision 'int8' is for the compact family (the default model); this network has no int8 "
                        "mode (use fp32 or bf16)")
    return support


def bundled_file(checkpoint: Path) -> Path:
    """The calibration shipped beside `checkpoint`: NAME.int8.json."""
    return checkpoint.with_name(f"{checkpoint.stem}.int8.json")


def calibration_file(checkpoint: Path, support: Int8Support, source_name: str) -> Path:
    """Where a calibration of `checkpoint` on `source_name`'s frames is cached: $VSADCVSR_CACHE/int8/, named by the
    checkpoint's SHA-256, the scheme and the frames."""
    digest = file_digest(checkpoint)[:16]
    tag = hashlib.sha256(f"{support.scheme}|{source_name}".encode()).hexdigest()[:8]
    return cache_dir() / "int8" / f"{checkpoint.stem}-{digest}-{tag}.json"


def read_qparams(path: Path, checkpoint: Path, support: Int8Support) -> QParams | None:
    """The ranges a calibration record holds, or None where it is missing, unreadable (warned), for other weights or
    for another scheme."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if record["sha256"] != file_digest(checkpoint) or record["scheme"] != support.scheme:
            log.info("int8: %s is for other weights or another scheme; not used", path)
            return None
        return {k: (float(s), int(z)) for k, (s, z) in record["qparams"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("int8: ignoring an unreadable calibration file %s", path)
        return None


def write_qparams(path: Path, checkpoint: Path, support: Int8Support, source_name: str, qparams: QParams) -> None:
    """Writes a calibration record (through a per-process temporary name): the weights, the scheme, the frames and
    the ranges."""
    record = {"checkpoint": checkpoint.name, "sha256": file_digest(checkpoint), "scheme": support.scheme,
              "frames": source_name, "torch": torch.__version__, "qparams": qparams}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)


def calibrate_checkpoint(checkpoint: Path, support: Int8Support, source: CalibrationSource,
                         model: nn.Module | None = None) -> QParams:
    """Calibrates `checkpoint`'s network (`model`, its float network on the CPU, when already loaded) on `source`'s
    frames."""
    if model is None:
        model, _ = load_model(checkpoint, "cpu")
    try:
        windows = source.windows()
    except FileNotFoundError as e:
        raise Int8Error(f"precision 'int8': {e}") from None
    return support.calibrate(model, [torch.from_numpy(w) for w in windows])


def qparams_for(checkpoint: Path, support: Int8Support, source: CalibrationSource | None,
                model: nn.Module | None = None) -> QParams:
    """The activation ranges of `checkpoint`'s network: shipped beside it, cached, or calibrated now on `source`
    (then cached; `model`: its float network, when already loaded); Int8Error where none of the three is there."""
    found = read_qparams(bundled_file(checkpoint), checkpoint, support)
    if found is not None:
        return found
    if source is None:
        raise Int8Error(f"precision 'int8': no calibration for {checkpoint.name} (none beside it, none cached) and "
                        "no calibration frames given")
    cached = calibration_file(checkpoint, support, source.name)
    found = read_qparams(cached, checkpoint, support)
    if found is not None:
        return found
    log.info("int8: calibrating %s on %s (once; kept in %s)", checkpoint.name, source.name, cached)
    qparams = calibrate_checkpoint(checkpoint, support, source, model)
    write_qparams(cached, checkpoint, support, source.name, qparams)
    return qparams


def shared_int8_model(path: Path, support: Int8Support,
                      source: CalibrationSource | None) -> tuple[nn.Module, CheckpointInfo]:
    """One int8 network per checkpoint for the whole process (its ranges: `qparams_for`)."""
    key = str(path.resolve())
    with _MODELS_LOCK:
        if key not in _MODELS:
            model, info = load_model(path, "cpu")
            float_dtype = torch.bfloat16 if cpu_bf16_native() else torch.float32  # for the parts left in float
            net = support.build(model, qparams_for(path, support, source, model), float_dtype)
            net.requires_grad_(False)
            _MODELS[key] = (net, info)
            log.info("loaded %s on cpu (int8)", path.name)
        return _MODELS[key]
