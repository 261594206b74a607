"""The compact family with int8 convolutions for the CPU (pure torch; the engine's `precision="int8"`).

What runs in int8: the input convolution and the 16 body convolutions (3x3 Conv2d: 82 % of the default network's
multiply-adds) and the PReLUs between them, so that activations stay uint8 from one convolution to the next.
Weights are per output channel, symmetric, with **7 bits** (-64..63): x86 CPUs without VNNI multiply uint8 by
int8 with pairwise int16 sums that saturate (vpmaddubsw), which 8-bit weights with 8-bit activations overflow
(36.3 dB from fp32 instead of 39.9 in a probe on held-out frames); 7 bits give the same numbers on every x86 CPU.
Activations are per tensor, uint8 affine, their ranges calibrated with PyTorch's HistogramObserver (least squared
quantisation error); PReLU slopes are uint8 per tensor (PyTorch's quantised PReLU takes no other). In float: the
scaling of the input to [0, 1], the four temporal blocks (Conv1d along time: 14 % of the multiply-adds; dequantised
before and quantised after each, except the last, after which everything is float; fp32, or bf16 where the engine
asks for it), the output convolution (4 %:
quantising its output added a 4x4 pattern through the PixelShuffle), the PixelShuffle and the addition of the
upsampled frame (the picture itself stays fp32, as with bf16 weights).

`calibrate` observes the activation ranges on windows of real frames (which frames: the caller's choice; the
engine's cache and the bundled ranges: `vsadcvsr.engine.int8`); `Int8Compact` is built from a float network and
those ranges. The kernels are PyTorch's (`torch.ao.quantization`, eager mode; the oneDNN engine where PyTorch has
it, measured fastest here). PyTorch deprecates that module in favour of torchao; a torch without it is refused
with an `Int8Error`.
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .compact import CompactVSR, add_detail
from .hints import Int8Error, Int8Support, QParams

#: Weight range: 7 bits (see the module's docstring).
WEIGHT_QMIN, WEIGHT_QMAX = -64, 63
#: Names the quantisation scheme; part of a calibration's identity (change it whenever the scheme changes).
SCHEME = f"compact-int8-w{WEIGHT_QMIN}..{WEIGHT_QMAX}-a-uint8-histogram-v2"


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
    """A temporal block in float between int8 activations: dequantised before (and cast to the block's dtype),
    quantised again after."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        tq = _tq()
        self.dequant = tq.DeQuantStub()
        self.block = block
        self.quant = tq.QuantStub()

    def forward(self, x: Tensor, frames: int) -> Tensor:
        dtype = next(self.block.parameters()).dtype
        y = self.dequant(x).to(dtype, memory_format=torch.channels_last)
        return self.quant(self.block(y, frames, inplace=True).float())


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
        y = self.dequant(y).to(self.conv_out.weight.dtype, memory_format=torch.channels_last)
        for block in self.last:
            y = block(y, frames, inplace=True)
        return y

    def detail(self, f: Tensor) -> Tensor:
        return self.conv_out(f)

    def float_parts_to(self, dtype: torch.dtype) -> None:
        """The float parts (temporal blocks, output convolution) in `dtype`."""
        for block in self.temporals.values():
            block.block.to(dtype)
        self.last.to(dtype)
        self.conv_out.to(dtype)

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
    (B, T, 3, h, w) in [-1, 1] → (B, T, 3, 4h, 4w) float32 in [-1, 1], unclamped. CPU only.

    `float_dtype`: the dtype of the float parts (temporal blocks, output convolution): fp32, or bf16 where the CPU
    computes bf16 in hardware (the engine's choice; 1.4x faster there)."""

    def __init__(self, model: CompactVSR, qparams: QParams, float_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        tq = _tq()
        self.cfg = model.cfg
        net = _Detail(copy.deepcopy(model).float().eval())
        needed = {n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.PReLU, tq.QuantStub))}
        missing = sorted(needed - {"conv_out"} - set(qparams))
        if missing:
            raise ValueError(f"Int8Compact: the calibration lacks the activation ranges of {', '.join(missing)}")

        def fixed(name: str) -> Any:
            scale, zero_point = qparams[name]
            return tq.FixedQParamsObserver.with_args(scale=scale, zero_point=zero_point)

        _qconfigs(net, fixed)
        self.engine = quantised_engine()
        with _quiet_engine(self.engine):
            tq.prepare(net, inplace=True)
            tq.convert(net, inplace=True)
        net.float_parts_to(float_dtype)
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
            img = add_detail(self.net.detail(f[i: i + chunk]), lr)
            parts.append(img[..., 4 * p: 4 * (p + h), 4 * p: 4 * (p + w)])
        img = torch.cat(parts) if len(parts) > 1 else parts[0]
        return img.reshape(b, t, *img.shape[1:])


#: What the compact family tells the engine about its int8 mode.
COMPACT_INT8 = Int8Support(calibrate=calibrate, build=Int8Compact, scheme=SCHEME)
