"""The VapourSynth filter `adcvsr.Upscale`: a clip in, a 4x clip out, frames served from the engine's windows."""
from __future__ import annotations

import functools
import logging
import os

import numpy as np
import torch
import vapoursynth as vs

from .checkpoint import CheckpointError
from .engine import FrameAssembler, Upscaler, WindowGrid
from .engine.assembler import Reservation
from .engine.colour import (
    PlaneFormat,
    default_matrix,
    full_range_from_props,
    matrix_from_props,
    planes_to_rgb,
    rgb_to_planes,
)
from .engine.scenes import is_cut, scene_difference
from .engine.settings import Settings, SettingsError, check_int
from .engine.transfer import plane_to_tensor, tensor_to_plane
from .material import INT8_CALIBRATION

core = vs.core
log = logging.getLogger("vsadcvsr")
FUNC = "adcvsr.Upscale"
_FAMILIES = {vs.GRAY: "gray", vs.YUV: "yuv", vs.RGB: "rgb"}
DEFAULT_WINDOW = 16


def _error(message: str) -> vs.Error:
    return vs.Error(f"{FUNC}: {message}")


def _check_format(fmt: vs.VideoFormat | None, what: str) -> None:
    if fmt is None or fmt.id == vs.NONE:
        raise _error(f"variable-format {what} clips are not supported")
    if fmt.color_family not in _FAMILIES:
        raise _error(f"{what} colour family {fmt.color_family.name} is not supported (use GRAY, YUV or RGB)")
    if fmt.sample_type == vs.INTEGER and not 8 <= fmt.bits_per_sample <= 16:
        raise _error(f"{what} format {fmt.name}: integer samples must have 8 to 16 bits")
    if fmt.sample_type == vs.FLOAT and fmt.bits_per_sample not in (16, 32):
        raise _error(f"{what} format {fmt.name}: float samples must have 16 or 32 bits")
    if (fmt.subsampling_w, fmt.subsampling_h) not in ((0, 0), (1, 0), (1, 1)):
        raise _error(f"{what} format {fmt.name}: only 4:4:4, 4:2:2 and 4:2:0 chroma are supported")


def _range_code(props: vs.FrameProps) -> int | None:
    """The range as a `_ColorRange` code (0 full, 1 limited); R74+ store it as `_Range` (1 full, 0 limited)."""
    if "_Range" in props:
        return 0 if int(props["_Range"]) == vs.RANGE_FULL else 1
    return None


def _plane_format(fmt: vs.VideoFormat, props: vs.FrameProps, width: int, height: int) -> PlaneFormat:
    family = _FAMILIES[fmt.color_family]
    matrix = props.get("_Matrix")
    return PlaneFormat(
        family=family,  # type: ignore[arg-type]
        bits=fmt.bits_per_sample,
        is_float=fmt.sample_type == vs.FLOAT,
        subsampling=(fmt.subsampling_w, fmt.subsampling_h),
        matrix=(matrix_from_props(int(matrix) if matrix is not None else None, width, height) if family == "yuv"
                else "bt709"),
        full_range=full_range_from_props(_range_code(props), family),
        chroma_left=props.get("_ChromaLocation", 0) not in (1, 3, 5),  # centre, top, bottom: centred
    )


def _frame_to_rgb(frame: vs.VideoFrame, device: torch.device) -> torch.Tensor:
    """Any supported frame → (3, h, w) float32 RGB on `device` (RGBS frames: a zero-copy view on the CPU)."""
    fmt = frame.format
    planes = [plane_to_tensor(np.asarray(frame[p]), device) for p in range(fmt.num_planes)]
    if fmt.id == vs.RGBS:
        return torch.stack(planes)
    return planes_to_rgb(planes, _plane_format(fmt, frame.props, frame.width, frame.height))


def _default_matrix(clip: vs.VideoNode) -> vs.VideoNode:
    """Fills in `_Matrix` where it is missing or unspecified, by the engine's one rule (`default_matrix`)."""
    guess = default_matrix(clip.width, clip.height)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        if f.props.get("_Matrix", 2) != 2:
            return f
        fout = f.copy()
        fout.props["_Matrix"] = guess
        return fout

    return clip.std.ModifyFrame(clip, fill)


def _check_clip(clip: object) -> vs.VideoFormat:
    """The format of a clip the filter takes: constant format and size, at least 8 pixels of each chroma plane."""
    if not isinstance(clip, vs.VideoNode):
        raise _error("this is not a clip")
    _check_format(clip.format, "input")
    if clip.width == 0 or clip.height == 0:
        raise _error("variable-size clips are not supported")
    fmt = clip.format
    assert fmt is not None
    min_w, min_h = 8 << fmt.subsampling_w, 8 << fmt.subsampling_h
    if clip.width < min_w or clip.height < min_h:
        raise _error(f"the clip is too small ({clip.width}x{clip.height}); at least {min_w}x{min_h} is needed")
    return fmt


def _tag_output(out: vs.VideoNode, props: vs.VideoNode, fmt: vs.VideoFormat, out_fmt: vs.VideoFormat) -> vs.VideoNode:
    """The source's frame props on the output; where the colour family changed, its _Matrix (and, to or from RGB,
    _Range) set for the output's: RGB is full range, YUV made from RGB is BT.709 limited."""
    out = core.std.CopyFrameProps(out, props)
    if out_fmt.color_family != fmt.color_family:
        tags = {"_Matrix": vs.MATRIX_RGB if out_fmt.color_family == vs.RGB else vs.MATRIX_BT709}
        if vs.RGB in (fmt.color_family, out_fmt.color_family):
            tags["_Range"] = vs.RANGE_FULL if out_fmt.color_family == vs.RGB else vs.RANGE_LIMITED
        out = core.std.SetFrameProps(out, **tags)
    return out


def _check_size(width: object, height: object, fmt: vs.VideoFormat) -> None:
    """The output size the user asked for, checked against the output format's chroma subsampling."""
    for name, value, sub in (("width", width, fmt.subsampling_w), ("height", height, fmt.subsampling_h)):
        if value is None:
            continue
        try:
            n = check_int(name, value, 1)
        except SettingsError as e:
            raise _error(str(e)) from None
        if n % (1 << sub):
            raise _error(f"{name} {n} is not a multiple of {1 << sub}, as {fmt.name}'s chroma subsampling needs")


def _fit_window(upscaler: Upscaler, clip: vs.VideoNode, settings: Settings, default: bool) -> Settings:
    """`settings` with a window that fits the memory budget: the default window shrinks (overlap with it) with a
    warning; a window the user chose, or any window at all, that does not fit is refused naming what would."""
    h, w = clip.height, clip.width
    fits = upscaler.fit_window(h, w, settings.window)
    size = f"{w}x{h} -> {w * upscaler.scale}x{h * upscaler.scale}"
    mib = upscaler.memory_budget() >> 20
    whose = "max_memory" if settings.max_memory else "half of the available memory; max_memory= sets it"

    def need(frames: int) -> int:  # the frames and network are given three quarters of the budget
        return (upscaler.frames_bytes(frames, h, w) + upscaler.smallest_net_bytes(frames, h, w)) * 4 // 3 >> 20

    if fits == 0:
        raise _error(f"{size} needs about {need(1)} MiB even with 1-frame windows, more than the {mib} MiB budget "
                     f"({whose}); give it more MiB if the machine has them, or upscale a smaller clip")
    if fits < settings.window and not default:
        raise _error(f"window={settings.window} at {size} needs about {need(settings.window)} MiB, more than the "
                     f"{mib} MiB budget ({whose}); the largest window that fits is {fits}")
    if fits < settings.window:
        log.warning("%s: %s: windows of %d frames, not %d, to stay within %d MiB of memory (%s)",
                    FUNC, size, fits, settings.window, mib, whose)
        return settings.replace(window=fits, overlap=min(settings.overlap, fits // 2))
    log.info("%s: %s: windows of %d frames within %d MiB of memory (%s)", FUNC, size, settings.window, mib, whose)
    return settings


def _convert(clip: vs.VideoNode, fmt: vs.VideoFormat, width: int, height: int, props: vs.VideoNode,
             keep_range: bool) -> vs.VideoNode:
    """Resizes/converts with Spline36 (`clip`'s frames tagged with their matrix and range, or RGB).

    To RGB: full range. To YUV/GRAY: from RGB with the `_Matrix` of `props`' frames (else BT.709); in the `_Range`
    of `props`' frames if `keep_range` (a YUV/GRAY source), else limited (an RGB source).
    """
    if fmt.color_family == vs.RGB:
        return core.resize.Spline36(clip, width, height, format=fmt.id)
    from_rgb = clip.format.color_family == vs.RGB
    resizers: dict[tuple[int, int], vs.VideoNode] = {}

    def pick(n: int, f: vs.VideoFrame) -> vs.VideoNode:
        m = int(f.props.get("_Matrix", 2)) if from_rgb else 2
        m = vs.MATRIX_BT709 if m in (0, 2) else m
        r = vs.RANGE_FULL if keep_range and f.props.get("_Range") == vs.RANGE_FULL else vs.RANGE_LIMITED
        if (m, r) not in resizers:
            matrix = {"matrix": m} if from_rgb else {}
            resizers[m, r] = core.resize.Spline36(clip, width, height, format=fmt.id, range=r, **matrix)
        return resizers[m, r]

    template = core.std.BlankClip(clip, width=width, height=height, format=fmt.id, keep=True)
    return core.std.FrameEval(template, pick, prop_src=props)


class HeldFrames:
    """The source frames one request brought through the graph, as the engine's `FrameSource`."""

    def __init__(self, first: int, frames: list[vs.VideoFrame], device: torch.device, threshold: float) -> None:
        self.first, self._frames, self._device, self._threshold = first, frames, device, threshold

    def frames(self, span: range) -> tuple[torch.Tensor, list[bool]]:
        if span.start < self.first or span.stop > self.first + len(self._frames):
            raise RuntimeError(f"{FUNC}: frames {span.start}-{span.stop - 1} were not brought by the request")
        frames = self._frames[span.start - self.first:span.stop - self.first]
        for i, f in zip(span, frames):
            if f.props.get("_FieldBased", 0) in (1, 2):
                raise vs.Error(f"{FUNC}: frame {i} is interlaced (_FieldBased={f.props['_FieldBased']}); "
                               "deinterlace first")
        try:
            rgb = torch.stack([_frame_to_rgb(f, self._device) for f in frames])
        except ValueError as e:  # e.g. an unsupported _Matrix or _ColorRange value
            raise vs.Error(f"{FUNC}: {e}") from None
        return rgb, [j > 0 and self._cut(frames[j - 1], frames[j], rgb[j - 1], rgb[j]) for j in range(len(frames))]

    def _cut(self, prev: vs.VideoFrame, cur: vs.VideoFrame, prev_rgb: torch.Tensor, rgb: torch.Tensor) -> bool:
        """`_SceneChangePrev`/`_SceneChangeNext` where present, else the engine's measure on the model's RGB."""
        if "_SceneChangePrev" in cur.props or "_SceneChangeNext" in prev.props:
            return bool(cur.props.get("_SceneChangePrev", 0)) or bool(prev.props.get("_SceneChangeNext", 0))
        return is_cut(scene_difference(prev_rgb, rgb), self._threshold)


class _ServedFrames:
    """Frame n of the output: a request reserves what the engine has cached and brings the source frames it
    lacks through the graph (VapourSynth fetches them in parallel), then the engine makes the frame."""

    def __init__(self, assembler: FrameAssembler, src: vs.VideoNode, blank: vs.VideoNode, device: torch.device,
                 threshold: float, out_fmt: vs.VideoFormat | None, width: int, height: int) -> None:
        self.assembler, self.src, self.blank, self.device, self.threshold = assembler, src, blank, device, threshold
        self.out_fmt, self.size = out_fmt, (width, height)  # out_fmt: None when the output stays RGBS
        self._shifted: dict[int, vs.VideoNode] = {0: src}

    def _shift(self, d: int) -> vs.VideoNode:
        """A clip whose frame n is source frame n + d (edges repeated; only in-range frames are used)."""
        if d not in self._shifted:
            src, last = self.src, self.src.num_frames - 1
            self._shifted[d] = src[d:] + src[last] * d if d > 0 else src[0] * -d + src[: src.num_frames + d]
        return self._shifted[d]

    def select(self, n: int) -> vs.VideoNode:
        reservation = self.assembler.reserve(n)
        clips = [self.blank, self.src] + [self._shift(i - n) for i in reservation.needed]
        return self.blank.std.ModifyFrame(clips, functools.partial(self.render, reservation=reservation))

    def render(self, n: int, f: list[vs.VideoFrame], reservation: Reservation) -> vs.VideoFrame:
        """f: [output template, source frame n, the source frames `reservation.needed`]."""
        needed = reservation.needed
        source = HeldFrames(needed.start, f[2:], self.device, self.threshold) if len(needed) else None
        rgb = self.assembler.frame(n, source, reservation)
        if self.out_fmt is not None:
            planes = rgb_to_planes(rgb, _plane_format(self.out_fmt, f[1].props, *self.size))
        else:
            planes = list(rgb)
        fout = f[0].copy()
        for p, plane in enumerate(planes):
            tensor_to_plane(plane, np.asarray(fout[p]))
        return fout


def Upscale(
    clip: vs.VideoNode,
    model: str | os.PathLike[str] = "default",
    device_index: int | None = None,
    device: str | None = None,
    precision: str = "auto",
    fp16: bool | None = None,
    window: int | None = None,
    overlap: int = 4,
    tile: int | tuple[int, int] | list[int] = 0,
    tile_overlap: int = 32,
    num_streams: int = 1,
    scene_threshold: float = 0.1,
    colour_fix: bool | str = True,
    device_colour: bool | None = None,
    format: int | vs.PresetVideoFormat | None = None,
    width: int | None = None,
    height: int | None = None,
    max_memory: int = 0,
    backend: str = "torch",
    compile: bool = False,
) -> vs.VideoNode:
    """Real-world x4 video super-resolution with AdcVSR.

    :param clip:             GRAY, YUV (4:2:0 / 4:2:2 / 4:4:4) or RGB; 8-16 bit integer or 16/32 bit float; progressive
    :param model:            bundled model name ("default") or the path of a vsadcvsr checkpoint (.safetensors)
    :param device_index:     CUDA device index; None uses `device`
    :param device:           "cpu", "cuda" or "cuda:N"; None picks CUDA when available, else the CPU
    :param precision:        "fp32", "fp16", "bf16" or "auto" (fp16 on CUDA; CPU: bf16 for compact
                             models on CPUs with AVX512-BF16/AMX, else fp32); "int8": the compact family on the
                             CPU with int8 convolutions (opt-in, never "auto"; docs/onnx.md)
    :param fp16:             shorthand: True is precision="fp16", False is "fp32"
    :param window:           frames the temporal model sees at once; default 16, or as many as fit the memory
                             budget (a warning on stderr says how many). A window that does not fit is refused
    :param overlap:          frames shared by neighbouring windows, cross-faded (at most window/2)
    :param tile:             LR tile size in pixels, an int or [width, height]; 0 tiles automatically, only when a
                             window would not fit the memory budget
    :param tile_overlap:     LR pixels shared by neighbouring tiles, blended with cosine weights; a tile you set
                             must be larger (automatic tiles cap it at a quarter of the tile)
    :param num_streams:      windows processed concurrently (CUDA streams on a GPU)
    :param scene_threshold:  luma difference (0-1) that starts a new shot; 0 disables detection.
                             `_SceneChangePrev` / `_SceneChangeNext` props, when present, are used instead
    :param colour_fix:       AdcSR's colour correction against the input: "wavelet" (low frequencies taken from the
                             input, per frame), "adain" (per-channel mean/std per window) or "none"; True = "wavelet"
    :param device_colour:    convert YUV/RGB on the inference device (default: on CUDA); otherwise VapourSynth's
                             resizer converts to and from RGBS around the model (faster on the CPU)
    :param format:           output format; default: the input's format at 4x size
    :param width, height:    output size; default 4x the input (other sizes are resized with Spline36)
    :param max_memory:       memory budget in MiB (network, finished and cached windows, output frames);
                             0 = half of the memory available when the filter is created
    :param backend:          inference runtime: "torch", "onnxruntime" (CPU), "openvino" (CPU), "tensorrt" (NVIDIA,
                             through ONNX Runtime); the others run an ONNX export made once per model (docs/onnx.md)
    :param compile:          torch.compile the network (torch backend, not int8): about half a minute per frame
                             size before its second window, then faster on CUDA (1.3x; not on the CPU, where
                             the usual path fuses as much); for long encodes on a GPU
    :return:                 the upscaled clip; frame count, rate and frame props of the input are kept
    """
    fmt = _check_clip(clip)
    if fp16 is not None:
        precision = "fp16" if fp16 else "fp32"
    try:
        settings = Settings(
            window=DEFAULT_WINDOW if window is None else window, overlap=overlap, tile=tile,
            tile_overlap=tile_overlap, num_streams=num_streams,
            precision=precision, colour_fix=colour_fix, scene_threshold=scene_threshold,
            device=device_index if device_index is not None else device, max_memory=max_memory,
            backend=backend, compile=compile,
        )
    except SettingsError as e:
        raise _error(str(e)) from None
    out_fmt = core.get_video_format(format) if format is not None else fmt
    _check_format(out_fmt, "output")
    _check_size(width, height, out_fmt)
    try:
        upscaler = Upscaler(model, settings, calibration=INT8_CALIBRATION)
    except (CheckpointError, ValueError) as e:
        raise _error(str(e)) from None
    scale = upscaler.scale
    dev = upscaler.device
    settings = _fit_window(upscaler, clip, settings, window is None)

    on_device = dev.type == "cuda" if device_colour is None else device_colour
    # Source props with a filled-in _Matrix: both the model's input and the output's props come from this node.
    props = _default_matrix(clip) if fmt.color_family == vs.YUV else clip
    src = props if on_device or fmt.id == vs.RGBS else core.resize.Spline36(props, format=vs.RGBS)
    work_fmt = fmt if on_device else core.get_video_format(vs.RGBS)
    blank = core.std.BlankClip(clip, width=clip.width * scale, height=clip.height * scale, format=work_fmt.id,
                               keep=True)
    assembler = FrameAssembler(
        upscaler.upscale_window, WindowGrid(settings.window, settings.overlap), clip.num_frames,
        cache_windows=2 + 2 * settings.num_streams, cache_bytes=upscaler.window_cache_bytes(),
    )
    served = _ServedFrames(assembler, src, blank, dev, settings.scene_threshold,
                           fmt if on_device else None, clip.width, clip.height)
    out = core.std.FrameEval(blank, served.select, clip_src=[blank, src])
    target_w, target_h = width or out.width, height or out.height
    if out_fmt.id != work_fmt.id or (target_w, target_h) != (out.width, out.height):
        if on_device:  # the planes are in the source's format, matrix and range: the resizer reads them from props
            out = core.std.CopyFrameProps(out, props)
        out = _convert(out, out_fmt, target_w, target_h, props, keep_range=fmt.color_family != vs.RGB)
    return _tag_output(out, props, fmt, out_fmt)
