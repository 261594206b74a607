"""Source file -> FFmpeg decoder -> vsadcvsr engine -> FFmpeg encoder -> target file.

Both FFmpeg processes talk NUT with rawvideo inside over their pipes: the frames stay raw (rgb24 or rgb48le,
full precision) and every frame keeps its own timestamp, so variable frame rate sources and filters that change
timing (`--vf-pre yadif=1`) come out with the right timestamps. PyAV only (de)muxes those pipes.
"""
from __future__ import annotations

import collections
import math
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import av
import ffmpeg
import numpy as np
import torch

from .errors import BridgeError
from .probe import SourceInfo, probe
from .progress import Progress

_MATROSKA = {".mkv", ".mka", ".mks", ".webm"}
_MP4 = {".mp4", ".m4v", ".mov", ".3gp"}
_DATA_OK = {".mp4", ".m4v", ".mov", ".nut", ".ts", ".m2ts", ".mts"}
_TEXT_SUBS = {"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"}
_FORMAT_EXT = {"matroska": ".mkv", "webm": ".webm", "mp4": ".mp4", "mov": ".mov", "nut": ".nut", "mpegts": ".ts"}
_CODEC_FLAGS = {"-c:v", "-vcodec", "-codec:v", "-c:v:0", "-codec:v:0"}


# ----------------------------------------------------------------------------------------------- small helpers
def find_ffmpeg(ffmpeg_path: str | os.PathLike[str] | None = None) -> str:
    """The FFmpeg to run: `ffmpeg_path`, else $ADCVSR_FFMPEG, else the static build of imageio-ffmpeg."""
    name = str(ffmpeg_path) if ffmpeg_path else os.environ.get("ADCVSR_FFMPEG") or ""
    if not name:
        try:
            import imageio_ffmpeg

            return imageio_ffmpeg.get_ffmpeg_exe()
        except Exception as e:  # the wheel raises RuntimeError when its binary is missing
            raise BridgeError(f"no FFmpeg found: {e}; name one with --ffmpeg or ADCVSR_FFMPEG") from None
    found = shutil.which(name)
    if not found:
        raise BridgeError(f"FFmpeg not found or not executable: {name}")
    return found


def parse_position(value: int | float | str) -> tuple[str, float]:
    """('frame', n) for an integer, ('time', seconds) for a float, '4.5s', '90s' or '[hh:]mm:ss[.ff]'."""
    if isinstance(value, bool):
        raise BridgeError(f"invalid position: {value!r}")
    if isinstance(value, int):
        kind, x = "frame", float(value)
    elif isinstance(value, float):
        kind, x = "time", value
    else:
        text = value.strip()
        if re.fullmatch(r"\d+", text):
            kind, x = "frame", float(int(text))
        elif m := re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)s", text):
            kind, x = "time", float(m.group(1))
        elif re.fullmatch(r"(\d+:){1,2}\d+(\.\d*)?", text):
            kind, x = "time", sum(float(p) * 60**i for i, p in enumerate(reversed(text.split(":"))))
        else:
            raise BridgeError(
                f"invalid position {value!r}: use a frame number (100), seconds with an 's' (4.5s) or a time (1:02.5)"
            )
    if x < 0 or not math.isfinite(x):
        raise BridgeError(f"invalid position {value!r}: must not be negative")
    return kind, x


@dataclass(frozen=True)
class Segment:
    """Source frames [first, stop) and how FFmpeg reaches them: input seek and duration, in seconds."""

    first: int
    stop: int
    seek: float | None
    duration: float | None

    @property
    def frames(self) -> int:
        return self.stop - self.first


def resolve_range(info: SourceInfo, start: int | float | str | None, end: int | float | str | None) -> Segment:
    """Turns --start/--end (end exclusive) into exact source frame indices, then into seek times."""
    times = info.frame_times
    n_total = len(times)

    def index(pos: int | float | str) -> int:
        kind, x = parse_position(pos)
        if kind == "frame":
            return int(x)
        # first frame shown at or after x (half a microsecond of slack for decimal round-off)
        return next((i for i, t in enumerate(times) if t >= x - 5e-7), n_total)

    first = 0 if start is None else index(start)
    stop = n_total if end is None else min(index(end), n_total)
    if first >= n_total:
        raise BridgeError(f"--start {start} is past the end of the video ({n_total} frames, {times[-1]:.3f}s)")
    if stop <= first:
        raise BridgeError(f"empty range: --end {end} is not after --start {start}")
    # seek a hair before the first frame's time: FFmpeg then drops exactly the frames before it
    seek = None if first == 0 else math.floor(times[first] * 1e6) / 1e6
    if seek is not None and first > 0 and seek <= times[first - 1]:
        seek = (times[first - 1] + times[first]) / 2
    duration = None if stop == n_total else times[stop] - times[first]
    return Segment(first, stop, seek, duration)


def split_encoder_args(args: Sequence[str]) -> tuple[str | None, str | None]:
    """(video encoder named by the user, output format named by -f), each None when not given."""
    codec = fmt = None
    for a, b in zip(args, list(args[1:]) + [""]):
        if a in _CODEC_FLAGS:
            codec = b
        elif a == "-f":
            fmt = b
    return codec, fmt


def default_encoder_args(ext: str, high_bit_depth: bool) -> list[str]:
    """Quality-keeping defaults: x265 CRF 18 (tagged hvc1 in MP4/MOV), SVT-AV1 CRF 24 for WebM."""
    if ext == ".webm":
        return ["-c:v", "libsvtav1", "-crf", "24", "-preset", "6"]
    args = ["-c:v", "libx265", "-crf", "18", "-preset", "medium", "-x265-params", "log-level=error"]
    if ext in _MP4:
        args += ["-tag:v", "hvc1"]
    return args


def output_pix_fmt(info: SourceInfo) -> str:
    depth = "10le" if info.high_bit_depth else ""
    return f"yuv{info.chroma}p{depth}"


class _Drain(threading.Thread):
    """Reads a process's stderr so its pipe never fills (a full pipe would stall FFmpeg), keeping the tail."""

    def __init__(self, stream, keep: int = 40) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)

    def run(self) -> None:
        for raw in iter(self.stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.lines.append(line)

    def tail(self, n: int = 8) -> str:
        self.join(timeout=5)
        lines = [ln for ln in self.lines if not ln.startswith(("Exiting with exit code", "Conversion failed"))]
        return "\n".join(lines[-n:]) if lines else "(FFmpeg printed nothing)"


def _stop(proc: subprocess.Popen | None) -> None:
    """Ends an FFmpeg process: SIGTERM, SIGKILL after 5 seconds, then its pipes closed.

    Killing first matters: a thread blocked writing into a live but stalled FFmpeg holds the pipe's lock, and
    closing the pipe would wait for it.
    """
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        try:
            if pipe is not None:
                pipe.close()
        except OSError:
            pass


def _status(rc: int | None) -> str:
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit code {rc}"


def _check_encoder(exe: str, name: str) -> None:
    """Fails early, before any frame is upscaled, when FFmpeg has no such video encoder."""
    r = subprocess.run([exe, "-hide_banner", "-h", f"encoder={name}"], capture_output=True, text=True, timeout=60)
    if "is not recognized" in r.stdout + r.stderr or "Encoder " not in r.stdout:
        raise BridgeError(f"unknown encoder {name!r}: this FFmpeg ({exe}) has no such encoder")
    if "Supported pixel formats" not in r.stdout and "video" not in r.stdout.lower():
        raise BridgeError(f"{name!r} is not a video encoder")


# ----------------------------------------------------------------------------------------------- the pipeline
def _decoder_cmd(exe: str, info: SourceInfo, seg: Segment, raw: str,
                 vf_pre: str | None) -> tuple[ffmpeg.nodes.OutputStream, list[str]]:
    """The decoder as an ffmpeg-python spec (run with run_async) and the command prefix to run it with."""
    chain = []
    seek = seg.seek
    if seek is not None and not info.indexed:
        # no index to land on a keyframe: decode from the start and cut by time, half a frame from each edge
        t = info.frame_times
        chain.append(f"trim=start={(t[seg.first - 1] + t[seg.first]) / 2:.6f}"
                     + (f":end={(t[seg.stop - 1] + t[seg.stop]) / 2:.6f}" if seg.stop < info.frames else ""))
        chain.append("setpts=PTS-STARTPTS")
        seek = None
    elif seg.stop != info.frames:
        chain.append(f"trim=end_frame={seg.frames}")  # counts from the seek point: exact, unlike -t
    if vf_pre:
        chain.append(vf_pre)
    if not info.is_rgb:
        rng = "pc" if info.full_range else "tv"
        chain.append(f"scale=in_color_matrix={info.matrix}:in_range={rng}")
    chain.append(f"format={raw}")
    in_kwargs = {"ss": f"{seek:.6f}"} if seek is not None else {}
    stream = ffmpeg.input(str(info.path), **in_kwargs)["v:0"].output(
        "pipe:",
        format="nut",
        vcodec="rawvideo",
        pix_fmt=raw,
        vf=",".join(chain),
        **{"fps_mode": "passthrough", "enc_time_base:v": "filter", "an": None, "sn": None, "dn": None},
    )
    return stream, [exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning"]


def _encoder_cmd(exe: str, info: SourceInfo, seg: Segment, raw: str, target: str, ext: str,
                 vf_post: str | None, encoder_args: Sequence[str]) -> list[str]:
    user_codec, user_fmt = split_encoder_args(encoder_args)
    chain = []
    if info.sar is not None:
        chain.append(f"setsar={info.sar.numerator}/{info.sar.denominator}")
    if vf_post:
        chain += [vf_post, f"format={raw}"]  # back to RGB, so the conversion below uses our matrix
    rng = "pc" if info.full_range else "tv"
    # RGB -> YCbCr here, with the matrix the decoder used; FFmpeg 9 ignores -color_primaries & co. as output
    # options, so the tags are set on the frames (setparams) and the encoder and muxer take them from there.
    tags = [f"colorspace={info.matrix}", f"range={rng}"]
    if info.color_primaries not in (0, 2):
        tags.append(f"color_primaries={info.color_primaries}")
    if info.color_trc not in (0, 2):
        tags.append(f"color_trc={info.color_trc}")
    chain += [f"scale=out_color_matrix={info.matrix}:out_range={rng}", f"format={output_pix_fmt(info)}",
              "setparams=" + ":".join(tags)]

    src_opts: list[str] = []
    if seg.seek is not None:
        src_opts += ["-ss", f"{seg.seek:.6f}"]
    if seg.duration is not None:
        src_opts += ["-t", f"{seg.duration:.6f}"]
    # written by hand, not with ffmpeg-python: it drops inputs no -map names (the source is needed for its
    # metadata even without audio) and sorts options, while user options must stay in their order
    cmd = [exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning", "-y",
           "-f", "nut", "-i", "pipe:", *src_opts, "-i", str(info.path), "-map", "0:v:0"]
    container = ext
    if info.audio:
        cmd += ["-map", "1:a", "-c:a", "copy"]
    subtitle_maps = []
    if info.subtitles:
        if container in _MP4:  # MP4 holds text subtitles as mov_text only, bitmaps not at all
            subtitle_maps = [i for i, c in enumerate(info.subtitles) if c in _TEXT_SUBS]
            for i in subtitle_maps:
                cmd += ["-map", f"1:s:{i}"]
            if subtitle_maps:
                cmd += ["-c:s", "mov_text"]
        else:
            subtitle_maps = list(range(len(info.subtitles)))
            cmd += ["-map", "1:s", "-c:s", "copy"]
    if info.data and container in _DATA_OK:
        cmd += ["-map", "1:d", "-c:d", "copy"]
    if info.attachments and container in _MATROSKA:
        cmd += ["-map", "1:t", "-c:t", "copy"]
    # any per-stream metadata map turns FFmpeg's default per-stream copy off: so map every stream's own
    for kind, pairs in (("v", [(0, 0)]), ("a", [(i, i) for i in range(info.audio)]),
                        ("s", list(enumerate(subtitle_maps)))):
        for out_i, in_i in pairs:
            cmd += [f"-map_metadata:s:{kind}:{out_i}", f"1:s:{kind}:{in_i}"]
    if seg.seek is not None:
        # FFmpeg's input seek lands on a keyframe before the start; copied packets from before it would get
        # negative times and shift the whole output. Dropped, each part's audio starts where the last one ended.
        cmd += ["-copypriorss", "0"]
    cmd += ["-map_metadata", "1", "-map_chapters", "1",
            "-vf", ",".join(chain), "-fps_mode:v", "passthrough", "-enc_time_base:v", "filter",
            "-pix_fmt", output_pix_fmt(info), "-max_muxing_queue_size", "4096"]
    if target == "pipe:" and not user_fmt:
        cmd += ["-f", "matroska"]
    if not user_codec:
        cmd += default_encoder_args(ext, info.high_bit_depth)
    return cmd + list(encoder_args) + [target]


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    """(h, w, 3) uint8/uint16 RGB -> contiguous (3, h, w) float32 in [0, 1]."""
    peak = 65535.0 if arr.dtype == np.uint16 else 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous().to(torch.float32).div_(peak)


def _from_tensor(y: torch.Tensor, high: bool) -> np.ndarray:
    """(3, h, w) float RGB -> (h, w, 3) uint8/uint16, quantised where `y` lives (a GPU copies 2-4x fewer bytes)."""
    peak = 65535.0 if high else 255.0
    q = y.detach().mul(peak).add_(0.5).clamp_(0, peak).to(torch.uint16 if high else torch.uint8)
    return q.permute(1, 2, 0).contiguous().cpu().numpy()


def _grow_pipe(f) -> None:
    """1 MiB pipes instead of 64 KiB: FFmpeg then decodes ahead instead of waiting for each read (Linux only)."""
    try:
        import fcntl

        fcntl.fcntl(f.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
    except (ImportError, OSError, ValueError):
        pass


class _Writer(threading.Thread):
    """Muxes upscaled frames into the encoder's pipe while the engine computes the next ones."""

    def __init__(self, container, stream, fmt: str, tb: Fraction) -> None:
        super().__init__(daemon=True)
        self.container, self.stream, self.fmt, self.tb = container, stream, fmt, tb
        self.queue: queue.Queue = queue.Queue(maxsize=3)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while (item := self.queue.get()) is not None:
                arr, pts = item
                frame = av.VideoFrame.from_ndarray(arr, format=self.fmt)
                frame.pts, frame.time_base = pts, self.tb
                for pkt in self.stream.encode(frame):
                    self.container.mux(pkt)
            for pkt in self.stream.encode(None):
                self.container.mux(pkt)
            self.container.close()
        except BaseException as e:  # handed to the main thread
            self.error = e
            while True:  # unblock a producer waiting on a full queue
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    break

    @classmethod
    def open(cls, pipe, width: int, height: int, fmt: str, rate: Fraction | None, tb: Fraction) -> "_Writer":
        """A NUT/rawvideo stream on `pipe`, with the source's time base so every timestamp stays exact."""
        container = av.open(pipe, mode="w", format="nut")
        stream = container.add_stream("rawvideo", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, fmt
        stream.time_base = tb
        stream.codec_context.time_base = tb
        writer = cls(container, stream, fmt, tb)
        writer.start()
        return writer

    def put(self, item) -> None:
        while self.error is None and self.is_alive():
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        self.finish()

    def finish(self) -> None:
        """Ends the stream (None sentinel) and waits; re-raises what the thread met."""
        if self.is_alive() and self.error is None:
            while self.is_alive():
                try:
                    self.queue.put(None, timeout=0.2)
                    break
                except queue.Full:
                    continue
        self.join()
        if self.error is not None:
            raise self.error


def upscale_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] = "default",
    device: str = "cpu",
    precision: str = "auto",
    window: int = 16,
    overlap: int = 4,
    tile: int = 0,
    tile_overlap: int = 32,
    scene_threshold: float = 0.1,
    colour_fix: bool | str = True,
    vf_pre: str | None = None,
    vf_post: str | None = None,
    start: int | float | str | None = None,
    end: int | float | str | None = None,
    encoder_args: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    ffmpeg_path: str | os.PathLike[str] | None = None,
) -> Path:
    """Upscales the first video stream of `src` x4 with AdcVSR into `dst`, keeping everything else.

    :param src:             input file (anything FFmpeg reads); never modified.
    :param dst:             output file; its extension picks the container. "-" writes Matroska to stdout.
    :param model:           "default" (bundled weights) or a checkpoint path, passed to the engine's Upscaler.
    :param device:          "cpu", "cuda", "cuda:1"...
    :param precision:       "auto" (fp16 on CUDA; CPU: bf16 for compact models on CPUs
                            with AVX512-BF16/AMX, else fp32), "fp32", "fp16" or "bf16".
    :param window:          frames per temporal window (the engine's `window`).
    :param overlap:         frames shared by neighbouring windows, cross-faded by the engine.
    :param tile:            spatial tile size in input pixels, 0 = whole frames.
    :param tile_overlap:    overlap of neighbouring tiles in input pixels.
    :param scene_threshold: engine's scene-cut threshold; windows never mix shots.
    :param colour_fix:      "wavelet", "adain" or "none" (True = "wavelet"): the engine's colour correction.
    :param vf_pre:          FFmpeg filter chain applied before the model (decoder side), e.g. "yadif" or "crop=...".
    :param vf_post:         FFmpeg filter chain applied after the model (encoder side), e.g. "scale=1920:-2".
    :param start:           first frame: int = frame number, float = seconds, str = "100", "4.5s" or "1:02.5".
    :param end:             end of the range, exclusive, same forms as `start`; None = to the end.
    :param encoder_args:    FFmpeg output options (["-c:v", "libx264", "-crf", "20"]); replace the defaults
                            (libx265 CRF 18, preset medium) when they name a video encoder, else add to them.
    :param overwrite:       replace an existing `dst`.
    :param progress:        progress lines (or a tqdm bar on a terminal) on stderr.
    :param ffmpeg_path:     FFmpeg binary; default $ADCVSR_FFMPEG, else imageio-ffmpeg's static build.
    :returns:               the output path (Path("-") for stdout).
    :raises BridgeError:    with a one-paragraph message (FFmpeg's own last lines when FFmpeg failed).

    The output is written beside `dst` as `.<name>.partial<ext>` and renamed only when both FFmpeg processes
    succeeded; on any error, KeyboardInterrupt or SystemExit both processes are stopped and the file removed.
    """
    exe = find_ffmpeg(ffmpeg_path)
    encoder_args = list(encoder_args or [])
    to_stdout = str(dst) == "-"
    src_p = Path(src)
    dst_p = Path(dst)
    if not src_p.exists():
        raise BridgeError(f"input not found: {src_p}")
    if to_stdout and os.isatty(1):
        raise BridgeError("refusing to write video to a terminal: redirect stdout or name an output file")
    if not to_stdout:
        if dst_p.exists() and (dst_p.resolve() == src_p.resolve() or os.path.samefile(dst_p, src_p)):
            raise BridgeError(f"output is the input file: {dst_p}")
        if dst_p.resolve() == src_p.resolve():
            raise BridgeError(f"output is the input file: {dst_p}")
        if dst_p.is_dir():
            raise BridgeError(f"output is a directory: {dst_p}")
        if dst_p.exists() and not overwrite:
            raise BridgeError(f"output exists: {dst_p} (use --overwrite to replace it)")
        if not dst_p.parent.is_dir():
            raise BridgeError(f"output folder does not exist: {dst_p.parent}")
        if not os.access(dst_p.parent, os.W_OK | os.X_OK):
            raise BridgeError(f"cannot write to the output folder {dst_p.parent} (permission denied)")
        if not dst_p.suffix:
            raise BridgeError(f"output {dst_p} has no extension: name the container (.mkv, .mp4...)")
    for name, v, lo in (("window", window, 1), ("overlap", overlap, 0), ("tile", tile, 0)):
        if not isinstance(v, int) or v < lo:
            raise BridgeError(f"{name} must be an integer >= {lo}, not {v!r}")
    if overlap >= window:
        raise BridgeError(f"overlap ({overlap}) must be smaller than window ({window})")
    user_codec, user_fmt = split_encoder_args(encoder_args)
    ext = dst_p.suffix.lower() if not to_stdout else ".mkv"
    ext = _FORMAT_EXT.get(user_fmt or "", ext)  # what the muxer will be: -f wins over the file name
    _check_encoder(exe, user_codec or default_encoder_args(ext, False)[1])

    info = probe(src_p)
    seg = resolve_range(info, start, end)
    from vsadcvsr.engine import Upscaler, upscale_stream  # at call time: tests swap in a fast stand-in engine

    try:
        up = Upscaler(model=model, device=device, precision=precision, tile=tile, tile_overlap=tile_overlap,
                      colour_fix=colour_fix)
    except Exception as e:
        raise BridgeError(f"cannot load model {str(model)!r}: {e}") from None

    raw = "rgb48le" if info.high_bit_depth else "rgb24"
    tmp = None if to_stdout else dst_p.parent / f".{dst_p.name}.partial{dst_p.suffix}"
    target = "pipe:" if to_stdout else str(tmp)
    dec = enc = None
    dec_err = enc_err = None
    writer: _Writer | None = None
    done = False
    bar: Progress | None = None
    try:
        dec_spec, dec_prefix = _decoder_cmd(exe, info, seg, raw, vf_pre)
        dec = dec_spec.run_async(cmd=dec_prefix, pipe_stdout=True, pipe_stderr=True)
        _grow_pipe(dec.stdout)
        dec_err = _Drain(dec.stderr)
        dec_err.start()

        def fail_decoder(what: str | None = None) -> BridgeError:
            try:
                dec.wait(timeout=5)  # a truncated pipe usually means the decoder died: say how
            except subprocess.TimeoutExpired:
                pass
            _stop(dec)
            if not what or dec.returncode != 0:
                what = _status(dec.returncode)
            return BridgeError(f"FFmpeg could not decode {src_p} ({what}):\n{dec_err.tail()}")

        try:
            reader = av.open(dec.stdout, mode="r", format="nut")
        except av.error.FFmpegError as e:
            raise fail_decoder(f"{e.strerror or e}") from None
        vin = reader.streams.video[0]
        tb = Fraction(vin.time_base)
        rate = Fraction(vin.average_rate) if vin.average_rate else info.average_rate
        total = seg.frames
        if vf_pre:  # the filters may change the rate (yadif=1, fps=...): expect as many more frames
            total = round(seg.frames * rate / info.average_rate) if rate and info.average_rate else None
        bar = Progress(total, enabled=progress)

        pts_queue: collections.deque[int] = collections.deque()

        def frames() -> Iterator[torch.Tensor]:
            try:
                for frame in reader.decode(video=0):
                    pts_queue.append(frame.pts)
                    yield _to_tensor(frame.to_ndarray())
            except av.error.FFmpegError as e:
                raise fail_decoder(f"{e.strerror or e}") from None

        enc_cmd = _encoder_cmd(exe, info, seg, raw, target, ext, vf_post, encoder_args)
        enc = subprocess.Popen(enc_cmd, stdin=subprocess.PIPE, stdout=None if to_stdout else subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        enc_err = _Drain(enc.stderr)
        enc_err.start()

        def fail_encoder(what: str | None = None) -> BridgeError:
            try:
                enc.wait(timeout=5)  # a dying FFmpeg has its last words still in the pipe
            except subprocess.TimeoutExpired:
                pass
            _stop(enc)
            what = f"{what}, {_status(enc.returncode)}" if what else _status(enc.returncode)
            return BridgeError(f"FFmpeg could not encode {dst_p} ({what}):\n{enc_err.tail()}")

        _grow_pipe(enc.stdin)
        try:
            high = raw == "rgb48le"
            for y in upscale_stream(frames(), up, window=window, overlap=overlap, scene_threshold=scene_threshold):
                arr = _from_tensor(y, high)
                if writer is None:  # the size comes from the engine's first frame (4x, or the model's scale)
                    writer = _Writer.open(enc.stdin, arr.shape[1], arr.shape[0], raw, rate, tb)
                writer.put((arr, pts_queue.popleft()))
                bar.update()
            if writer is None:
                raise fail_decoder("no frame came out of the decoder: check --vf-pre, --start and --end")
            writer.finish()
            enc.stdin.close()
            reader.close()
        except (BrokenPipeError, av.error.FFmpegError, OSError) as e:
            raise fail_encoder(getattr(e, "strerror", None) or str(e)) from None
        if enc.wait() != 0:
            raise fail_encoder()
        if dec.wait() != 0:
            raise fail_decoder()
        # frames shown before the first keyframe may be undecodable (a broadcast capture): not an error
        allowed = info.leading if seg.first == 0 else 0
        if not vf_pre and not seg.frames - allowed <= bar.n <= seg.frames:
            raise BridgeError(
                f"{src_p} ended after {bar.n} of its {seg.frames} frames: it is truncated or corrupt. "
                f"FFmpeg said:\n{dec_err.tail()}"
            )
        if tmp is not None:
            os.replace(tmp, dst_p)
        done = True
    finally:
        if bar is not None:
            bar.close(done)
        if not done:
            if writer is not None and writer.is_alive():
                try:
                    writer.queue.put_nowait(None)  # lets the thread end; if full, the closed pipe ends it
                except queue.Full:
                    pass
            _stop(enc)
            _stop(dec)
            if tmp is not None:
                tmp.unlink(missing_ok=True)
    return dst_p
