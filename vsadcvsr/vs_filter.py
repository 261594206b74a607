"""The VapourSynth filter `adcvsr.Upscale`: a clip in, a 4x clip out, frames served from the engine's windows."""
from __future__ import annotations

import functools
import logging
import os
import threading

import numpy as np
import torch
import vapoursynth as vs

from .checkpoint import CheckpointError
from .engine import FrameAssembler, Upscaler, WindowGrid
from .engine.colour import PlaneFormat, full_range_from_props, matrix_from_props, planes_to_rgb, rgb_to_planes
from .engine.transfer import plane_to_tensor, tensor_to_plane

core = vs.core
log = logging.getLogger("vsadcvsr")
FUNC = "adcvsr.Upscale"
_DIFF_PROP = "AdcVSRStatsDiff"
_FAMILIES = {vs.GRAY: "gray", vs.YUV: "yuv", vs.RGB: "rgb"}


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


def _plane_format(fmt: vs.VideoFormat, props: vs.FrameProps, height: int) -> PlaneFormat:
    family = _FAMILIES[fmt.color_family]
    matrix = props.get("_Matrix")
    return PlaneFormat(
        family=family,  # type: ignore[arg-type]
        bits=fmt.bits_per_sample,
        is_float=fmt.sample_type == vs.FLOAT,
        subsampling=(fmt.subsampling_w, fmt.subsampling_h),
        matrix=matrix_from_props(int(matrix) if matrix is not None else None, height) if family == "yuv" else "bt709",
        full_range=full_range_from_props(_range_code(props), family),
        chroma_left=props.get("_ChromaLocation", 0) not in (1, 3, 5),  # centre, top, bottom: centred
    )


def _frame_to_rgb(frame: vs.VideoFrame, device: torch.device) -> torch.Tensor:
    """Any supported frame → (3, h, w) float32 RGB on `device` (RGBS frames: a zero-copy view on the CPU)."""
    fmt = frame.format
    planes = [plane_to_tensor(np.asarray(frame[p]), device) for p in range(fmt.num_planes)]
    if fmt.id == vs.RGBS:
        return torch.stack(planes)
    return planes_to_rgb(planes, _plane_format(fmt, frame.props, frame.height))


def _default_matrix(clip: vs.VideoNode) -> vs.VideoNode:
    """Fills in `_Matrix` where it is missing or unspecified (BT.709 above 576 lines, else BT.601), as players do."""
    guess = vs.MATRIX_BT709 if clip.height > 576 else vs.MATRIX_ST170_M

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        if f.props.get("_Matrix", 2) != 2:
            return f
        fout = f.copy()
        fout.props["_Matrix"] = guess
        return fout

    return clip.std.ModifyFrame(clip, fill)


def _cut_before(frame: vs.VideoFrame, prev: vs.VideoFrame | None, threshold: float) -> bool:
    """Whether `frame` starts a new shot: `_SceneChangePrev`/`_SceneChangeNext` if present, else the stats diff."""
    if prev is None:
        return False
    if "_SceneChangePrev" in frame.props or "_SceneChangeNext" in prev.props:
        return bool(frame.props.get("_SceneChangePrev", 0)) or bool(prev.props.get("_SceneChangeNext", 0))
    return threshold > 0 and float(frame.props.get(_DIFF_PROP, 0.0)) > threshold


def _convert(clip: vs.VideoNode, fmt: vs.VideoFormat, width: int, height: int, props: vs.VideoNode) -> vs.VideoNode:
    """Resizes/converts with Spline36; to YUV/GRAY from RGB with the `_Matrix` of `props`' frames (else BT.709)."""
    if clip.format.color_family != vs.RGB or fmt.color_family == vs.RGB:
        return core.resize.Spline36(clip, width, height, format=fmt.id)
    resizers: dict[int, vs.VideoNode] = {}

    def pick(n: int, f: vs.VideoFrame) -> vs.VideoNode:
        m = int(f.props.get("_Matrix", 2))
        m = vs.MATRIX_BT709 if m in (0, 2) else m
        if m not in resizers:
            resizers[m] = core.resize.Spline36(clip, width, height, format=fmt.id, matrix=m)
        return resizers[m]

    template = core.std.BlankClip(clip, width=width, height=height, format=fmt.id, keep=True)
    return core.std.FrameEval(template, pick, prop_src=props)


def Upscale(
    clip: vs.VideoNode,
    model: str | os.PathLike[str] = "default",
    device_index: int | None = None,
    device: str | None = None,
    precision: str = "auto",
    fp16: bool | None = None,
    window: int = 16,
    overlap: int = 4,
    tile: int = 0,
    tile_overlap: int = 32,
    num_streams: int = 1,
    scene_threshold: float = 0.1,
    colour_fix: bool | str = True,
    device_colour: bool | None = None,
    format: int | vs.PresetVideoFormat | None = None,
    width: int | None = None,
    height: int | None = None,
) -> vs.VideoNode:
    """Real-world x4 video super-resolution with AdcVSR.

    :param clip:             GRAY, YUV (4:2:0 / 4:2:2 / 4:4:4) or RGB; 8-16 bit integer or 16/32 bit float; progressive
    :param model:            bundled model name ("default") or the path of a vsadcvsr checkpoint (.safetensors)
    :param device_index:     CUDA device index; None uses `device`
    :param device:           "cpu", "cuda" or "cuda:N"; None picks CUDA when available, else the CPU
    :param precision:        "fp32", "fp16", "bf16" or "auto" (fp16 on CUDA; CPU: bf16 for compact
                             models on CPUs with AVX512-BF16/AMX, else fp32)
    :param fp16:             shorthand: True is precision="fp16", False is "fp32"
    :param window:           frames the temporal model sees at once
    :param overlap:          frames shared by neighbouring windows, cross-faded (at most window/2)
    :param tile:             LR tile size in pixels; 0 tiles automatically only when a window would not fit in memory
    :param tile_overlap:     LR pixels shared by neighbouring tiles, blended with cosine weights
    :param num_streams:      windows processed concurrently (CUDA streams on a GPU)
    :param scene_threshold:  luma difference (0-1) that starts a new shot; 0 disables detection.
                             `_SceneChangePrev` / `_SceneChangeNext` props, when present, are used instead
    :param colour_fix:       AdcSR's colour correction against the input: "wavelet" (low frequencies taken from the
                             input, per frame), "adain" (per-channel mean/std per window) or "none"; True = "wavelet"
    :param device_colour:    convert YUV/RGB on the inference device (default: on CUDA); otherwise VapourSynth's
                             resizer converts to and from RGBS around the model (faster on the CPU)
    :param format:           output format; default: the input's format at 4x size
    :param width, height:    output size; default 4x the input (other sizes are resized with Spline36)
    :return:                 the upscaled clip; frame count, rate and frame props of the input are kept
    """
    if not isinstance(clip, vs.VideoNode):
        raise _error("this is not a clip")
    _check_format(clip.format, "input")
    if clip.width == 0 or clip.height == 0:
        raise _error("variable-size clips are not supported")
    fmt = clip.format
    min_w, min_h = 8 << fmt.subsampling_w, 8 << fmt.subsampling_h
    if clip.width < min_w or clip.height < min_h:
        raise _error(f"the clip is too small ({clip.width}x{clip.height}); at least {min_w}x{min_h} is needed")
    if window < 1:
        raise _error(f"window must be at least 1, not {window}")
    if not 0 <= overlap <= window // 2:
        raise _error(f"overlap must be between 0 and window/2 ({window // 2}), not {overlap}")
    if tile < 0 or tile_overlap < 0:
        raise _error("tile and tile_overlap must not be negative")
    if num_streams < 1:
        raise _error(f"num_streams must be at least 1, not {num_streams}")
    if not 0 <= scene_threshold <= 1:
        raise _error(f"scene_threshold must be between 0 and 1, not {scene_threshold}")
    if fp16 is not None:
        precision = "fp16" if fp16 else "fp32"
    out_fmt = core.get_video_format(format) if format is not None else fmt
    _check_format(out_fmt, "output")
    try:
        upscaler = Upscaler(
            model,
            device_index if device_index is not None else device,
            precision,
            tile=tile,
            tile_overlap=tile_overlap,
            colour_fix=colour_fix,
            num_streams=num_streams,
        )
    except (CheckpointError, ValueError) as e:
        raise _error(str(e)) from None
    scale = upscaler.scale
    dev = upscaler.device

    on_device = dev.type == "cuda" if device_colour is None else device_colour
    # Source props with a filled-in _Matrix: both the model's input and the output's props come from this node.
    props = _default_matrix(clip) if fmt.color_family == vs.YUV else clip
    src = props
    if src.num_frames > 1:  # PlaneStatsDiff of frame n against n - 1 on the first plane (luma for YUV)
        src = core.std.PlaneStats(src, src[0] + src[:-1], plane=0, prop="AdcVSRStats")
    if not on_device and fmt.id != vs.RGBS:
        src = core.resize.Spline36(src, format=vs.RGBS)
    work_fmt = fmt if on_device else core.get_video_format(vs.RGBS)

    # Source frames reach the callback through the graph (VapourSynth fetches them in parallel); calling
    # get_frame inside a callback can deadlock once every worker thread waits in one.
    given = threading.local()

    def load(span: range) -> tuple[torch.Tensor, list[bool]]:
        have: dict[int, vs.VideoFrame] = getattr(given, "frames", {})
        frames = [have[i] if i in have else src.get_frame(i) for i in span]
        for i, f in zip(span, frames):
            if f.props.get("_FieldBased", 0) in (1, 2):
                raise vs.Error(f"{FUNC}: frame {i} is interlaced (_FieldBased={f.props['_FieldBased']}); deinterlace first")
        try:
            rgb = torch.stack([_frame_to_rgb(f, dev) for f in frames])
        except ValueError as e:  # e.g. an unsupported _Matrix or _ColorRange value
            raise vs.Error(f"{FUNC}: {e}") from None
        cuts = [_cut_before(f, frames[j - 1] if j else None, scene_threshold) for j, f in enumerate(frames)]
        return rgb, cuts

    assembler = FrameAssembler(
        upscaler.upscale_window, WindowGrid(window, overlap), clip.num_frames, load, cache_windows=2 + 2 * num_streams
    )
    blank = core.std.BlankClip(
        clip, width=clip.width * scale, height=clip.height * scale, format=work_fmt.id, keep=True
    )

    def render(n: int, f: list[vs.VideoFrame], first: int = 0) -> vs.VideoFrame:
        """f: [output template, source frame n, source frames first, first + 1, ...]."""
        given.frames = {first + i: frame for i, frame in enumerate(f[2:])}
        try:
            rgb = assembler.frame(n)
        finally:
            given.frames = {}
        if on_device:
            planes = rgb_to_planes(rgb, _plane_format(fmt, f[1].props, clip.height))
        else:
            planes = list(rgb)
        fout = f[0].copy()
        for p, plane in enumerate(planes):
            tensor_to_plane(plane, np.asarray(fout[p]))
        return fout

    shifted: dict[int, vs.VideoNode] = {0: src}

    def shift(d: int) -> vs.VideoNode:
        """A clip whose frame n is source frame n + d (edges repeated; only in-range frames are used)."""
        if d not in shifted:
            last = src.num_frames - 1
            shifted[d] = src[d:] + src[last] * d if d > 0 else src[0] * -d + src[: src.num_frames + d]
        return shifted[d]

    ready_node = blank.std.ModifyFrame([blank, src], render)

    def select(n: int) -> vs.VideoNode:
        if assembler.is_ready(n):
            return ready_node
        need = assembler.needed(n)
        clips = [blank, src] + [shift(i - n) for i in need]
        return blank.std.ModifyFrame(clips, functools.partial(render, first=need.start))

    out = core.std.FrameEval(blank, select, clip_src=[blank, src])
    target_w, target_h = width or out.width, height or out.height
    if out_fmt.id != work_fmt.id or (target_w, target_h) != (out.width, out.height):
        out = _convert(out, out_fmt, target_w, target_h, props)
    out = core.std.CopyFrameProps(out, props)
    if out_fmt.color_family != fmt.color_family:  # the source's _Matrix does not describe the new family
        out = core.std.SetFrameProps(out, _Matrix=vs.MATRIX_RGB if out_fmt.color_family == vs.RGB else vs.MATRIX_BT709)
    return out
