"""The options of one upscaling job, each named here once: the command line builds one `JobOptions` from its
arguments; `upscale_file` and `run_cluster` take it, or single options by keyword (over the defaults or over a
given `JobOptions`)."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import BridgeError

if TYPE_CHECKING:
    from vsadcvsr.engine.settings import Settings


@dataclass(frozen=True)
class JobOptions:
    """How one file is upscaled; the engine's part is checked when the object is made (`engine`, the engine's
    `Settings`), so a bad setting is a BridgeError in the engine's words before FFmpeg starts or the model loads.

    :param model:           "default" (bundled weights) or a checkpoint path, passed to the engine's Upscaler.
    :param device:          "cpu", "cuda", "cuda:1"...
    :param precision:       "auto" (fp16 on CUDA; CPU: bf16 for compact models
                            on CPUs with AVX512-BF16/AMX, else fp32), "fp32", "fp16", "bf16" or "int8" (CPU,
                            compact models, opt-in: docs/onnx.md).
    :param backend:         inference runtime: "torch", "onnxruntime", "openvino" or "tensorrt" (docs/onnx.md).
    :param compile:         torch.compile the network (the engine's `compile`; torch backend, not int8).
    :param window:          frames per temporal window (the engine's `window`).
    :param overlap:         frames shared by neighbouring windows, cross-faded by the engine (at most window/2).
    :param tile:            spatial tile size in input pixels, an int or (width, height); 0 = whole frames
                            (or automatic tiles when memory is short).
    :param tile_overlap:    overlap of neighbouring tiles in input pixels.
    :param scene_threshold: engine's scene-cut threshold; windows never mix shots.
    :param colour_fix:      "wavelet", "adain" or "none" (True = "wavelet"): the engine's colour correction.
    :param vf_pre:          FFmpeg filter chain applied before the model (decoder side), e.g. "yadif" or "crop=...".
    :param vf_post:         FFmpeg filter chain applied after the model (encoder side), e.g. "scale=1920:-2".
    :param start:           first frame: int = frame number, float = seconds, str = "100", "4.5s" or "1:02.5".
    :param end:             end of the range, exclusive, same forms as `start`; None = to the end.
    :param encoder_args:    FFmpeg output options (["-c:v", "libx264", "-crf", "20"]); replace the defaults
                            (libx265 CRF 18, preset medium) when they name a video encoder, else add to them.
                            Stored as a tuple.
    :param overwrite:       replace an existing output.
    :param progress:        progress lines (or a tqdm bar on a terminal) on stderr.
    :param ffmpeg_path:     FFmpeg binary; default $ADCVSR_FFMPEG, else imageio-ffmpeg's static build.
    :param allow_lost_frames: go on when the source has lost frames (damaged data, a cut-off end, frames that do
                            not decode cleanly) and say on stderr how many; by default that is an error.
    """

    model: str | os.PathLike[str] = "default"
    device: str = "cpu"
    precision: str = "auto"
    backend: str = "torch"
    compile: bool = False
    window: int = 16
    overlap: int = 4
    tile: int | tuple[int, int] = 0
    tile_overlap: int = 32
    scene_threshold: float = 0.1
    colour_fix: bool | str = "wavelet"
    vf_pre: str | None = None
    vf_post: str | None = None
    start: int | float | str | None = None
    end: int | float | str | None = None
    encoder_args: Sequence[str] = ()
    overwrite: bool = False
    progress: bool = True
    ffmpeg_path: str | os.PathLike[str] | None = None
    allow_lost_frames: bool = False
    #: the engine's Settings made from the fields of the same names (made here, not given)
    engine: Settings = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.encoder_args, (str, bytes)):
            raise BridgeError(f"encoder_args must be a list of FFmpeg options, not the string {self.encoder_args!r}")
        object.__setattr__(self, "encoder_args", tuple(self.encoder_args or ()))
        object.__setattr__(self, "engine", _engine_settings(self))

    @classmethod
    def with_changes(cls, options: JobOptions | None, changes: Mapping[str, Any], caller: str) -> JobOptions:
        """`options` (None: the defaults) with the single options in `changes`; an unknown name is a TypeError
        naming `caller`, as for a function's keyword."""
        if options is not None and not isinstance(options, cls):
            raise TypeError(f"{caller}() takes a JobOptions as its options, not {type(options).__name__}")
        unknown = sorted(set(changes) - set(option_names()))
        if unknown:
            raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
        if options is None:
            return cls(**changes)
        return dataclasses.replace(options, **changes) if changes else options


def option_names() -> tuple[str, ...]:
    """The names of JobOptions' options, in order (those given when it is made)."""
    return tuple(f.name for f in dataclasses.fields(JobOptions) if f.init)


def _engine_settings(options: JobOptions) -> Settings:
    """The engine's Settings from the options of the same names; its errors as a BridgeError."""
    from vsadcvsr.engine.settings import Settings, SettingsError  # at call time: tests swap in a stand-in engine

    names = {f.name for f in dataclasses.fields(Settings)}.intersection(option_names())
    try:
        return Settings(**{name: getattr(options, name) for name in names})
    except SettingsError as e:
        raise BridgeError(str(e)) from None
