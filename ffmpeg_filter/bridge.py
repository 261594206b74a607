"""Source file -> FFmpeg decoder -> vsadcvsr engine -> FFmpeg encoder -> target file.

Both FFmpeg processes talk NUT with rawvideo inside over their pipes: the frames stay raw (rgb24 or rgb48le,
full precision) and every frame keeps its own timestamp, so variable frame rate sources and filters that change
timing (`--vf-pre yadif=1`) come out with the right timestamps. PyAV only (de)muxes those pipes.

`upscale_file` runs these steps, each a function below: make the job's `JobOptions` (which checks the engine's
`Settings`), check the paths, check the encoder, probe the source (and refuse it if it has lost frames), resolve
the range, load the model; then `_Job` starts the decoder and the encoder, pumps the frames through the engine,
checks that every frame came through and renames the partial output.
"""
from __future__ import annotations

import collections
import os
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import av
import torch

from vsadcvsr.material import INT8_CALIBRATION

from .commands import (
    FORMAT_EXT,
    check_encoder,
    decoder_cmd,
    default_encoder_args,
    encoder_cmd,
    find_ffmpeg,
    split_encoder_args,
)
from .damage import Loss, describe_bad_frame, first_bad_frame
from .errors import BridgeError
from .frames import Writer, from_tensor, grow_pipe, to_tensor
from .job_options import JobOptions
from .positions import Segment, parse_position, resolve_range
from .probe import SourceInfo, file_url, probe
from .processes import Drain, commit, discard_partial, kill, status, track, track_partial, wait_briefly
from .progress import Progress

if TYPE_CHECKING:
    from vsadcvsr.engine import Upscaler
    from vsadcvsr.engine.settings import Settings

__all__ = ["JobOptions", "Segment", "find_ffmpeg", "parse_position", "resolve_range", "upscale_file"]

_CORRUPT = "corrupt decoded frame"  # FFmpeg's words for a frame decoded with errors


def _fraction(rational: Any) -> Fraction:
    """PyAV's time bases and rates (typed as AVRational) as a Fraction."""
    return Fraction(rational.numerator, rational.denominator)


def warn(message: str) -> None:
    """A warning on stderr (stdout may carry the video)."""
    print(f"adcvsr-ffmpeg: warning: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- the steps
@dataclass(frozen=True)
class Target:
    """Where the output goes: `path`, written first as the hidden `partial` beside it, or stdout."""

    path: Path
    partial: Path | None

    @property
    def url(self) -> str:
        return "pipe:" if self.partial is None else file_url(self.partial)

    def ext(self, encoder_args: Sequence[str]) -> str:
        """The container the muxer will write: -f wins over the file name; stdout is Matroska."""
        _, user_fmt = split_encoder_args(encoder_args)
        ext = ".mkv" if self.partial is None else self.path.suffix.lower()
        return FORMAT_EXT.get(user_fmt or "", ext)


def check_paths(src: Path, dst: str | os.PathLike[str], overwrite: bool) -> Target:
    """Refuses a missing input and an output that is the input, exists, or cannot be written."""
    if not src.exists():
        raise BridgeError(f"input not found: {src}")
    if str(dst) == "-":
        if os.isatty(1):
            raise BridgeError("refusing to write video to a terminal: redirect stdout or name an output file")
        return Target(Path("-"), None)
    dst_p = Path(dst)
    if dst_p.resolve() == src.resolve() or (dst_p.exists() and os.path.samefile(dst_p, src)):
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
    return Target(dst_p, dst_p.parent / f".{dst_p.name}.partial{dst_p.suffix}")


def losses_in(info: SourceInfo, seg: Segment) -> list[Loss]:
    """The source's losses that fall inside the range (a loss sits before frame `before_frame`)."""
    n = info.frames
    return [loss for loss in info.losses
            if seg.first < loss.before_frame < seg.stop
            or (loss.before_frame == 0 and seg.first == 0)
            or (loss.end is None and seg.stop == n)]


def refuse_losses(info: SourceInfo, seg: Segment, allow: bool) -> None:
    """Fails before anything is written when the range has lost frames; with `allow`, says so and goes on."""
    losses = losses_in(info, seg)
    if not losses:
        return
    listed = "; ".join(loss.describe() for loss in losses[:3])
    if len(losses) > 3:
        listed += f"; and {len(losses) - 3} more"
    lost = sum(loss.frames or 0 for loss in losses)
    if allow:
        warn(f"{info.path} is damaged: {listed}. Going on without the lost frames (--allow-lost-frames); "
             f"about {lost} frame(s) lost")
        return
    raise BridgeError(f"{info.path} is damaged (truncated or corrupt): {listed}. Nothing was written; "
                      f"--allow-lost-frames upscales the frames that are left")


def load_upscaler(model: str | os.PathLike[str], settings: "Settings") -> "Upscaler":
    """The engine's Upscaler; only checkpoint problems say "cannot load model", other errors keep their words."""
    from vsadcvsr.checkpoint import CheckpointError
    from vsadcvsr.engine import Upscaler  # at call time: tests swap in a fast stand-in engine

    try:
        return Upscaler(model=model, settings=settings, calibration=INT8_CALIBRATION)
    except (CheckpointError, OSError) as e:
        raise BridgeError(f"cannot load model {str(model)!r}: {e}") from None
    except (ValueError, RuntimeError, TypeError) as e:
        raise BridgeError(str(e)) from None


# ----------------------------------------------------------------------------------------------- the job
class _Job:
    """One run of the two FFmpeg processes around the engine; `run` returns when the output is complete."""

    def __init__(self, exe: str, info: SourceInfo, seg: Segment, target: Target, ext: str, *,
                 vf_pre: str | None, vf_post: str | None, encoder_args: Sequence[str], allow_lost: bool) -> None:
        self.exe, self.info, self.seg, self.target, self.ext = exe, info, seg, target, ext
        self.vf_pre, self.vf_post, self.encoder_args = vf_pre, vf_post, list(encoder_args)
        self.allow_lost = allow_lost
        self.raw = "rgb48le" if info.high_bit_depth else "rgb24"
        # frames shown before the first keyframe may not decode (a capture starting mid-stream): -xerror would
        # end the job on them, so such a range relies on counting the frames instead
        self.leading = info.leading if seg.first == 0 else 0
        self.strict = not allow_lost and not self.leading
        self.dec: subprocess.Popen | None = None
        self.enc: subprocess.Popen | None = None
        self.dec_err: Drain | None = None
        self.enc_err: Drain | None = None
        self.writer: Writer | None = None
        self.decoded = 0
        self.total: int | None = seg.frames  #: frames expected out (None: unknown)
        self.pts: collections.deque[int | None] = collections.deque()

    # -- the decoder
    def start_decoder(self) -> av.container.InputContainer:
        cmd = decoder_cmd(self.exe, self.info, self.seg, self.raw, self.vf_pre, strict=self.strict)
        self.dec = track(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE))
        assert self.dec.stdout is not None and self.dec.stderr is not None  # both PIPE
        grow_pipe(self.dec.stdout)
        self.dec_err = Drain(self.dec.stderr, counted=(_CORRUPT,))
        self.dec_err.start()
        try:
            return av.open(self.dec.stdout, mode="r", format="nut")
        except av.error.FFmpegError as e:
            raise self.decoder_failed(f"{e.strerror or e}") from None

    def frames(self, reader: av.container.InputContainer) -> Iterator[torch.Tensor]:
        try:
            for frame in reader.decode(video=0):
                self.pts.append(frame.pts)
                self.decoded += 1
                yield to_tensor(frame.to_ndarray())
        except av.error.FFmpegError as e:
            raise self.decoder_failed(f"{e.strerror or e}") from None

    def decoder_failed(self, what: str | None = None) -> BridgeError:
        assert self.dec is not None and self.dec_err is not None
        wait_briefly(self.dec)  # a truncated pipe usually means the decoder died: say how
        kill(self.dec)
        rc = self.dec.returncode
        if self.strict and rc is not None and rc > 0:
            bad = self.find_bad_frame()
            if bad is not None:
                return BridgeError(describe_bad_frame(self.info.path, bad[0], self.info.frame_times, bad[1])
                                   + ". Nothing was written; --allow-lost-frames upscales the frames that decode "
                                   + f"(FFmpeg said:\n{self.dec_err.tail(4)})")
        if not what or rc != 0:
            what = status(rc)
        return BridgeError(f"FFmpeg could not decode {self.info.path} ({what}):\n{self.dec_err.tail()}")

    def find_bad_frame(self) -> tuple[int, str] | None:
        """Names the frame the strict decoder stopped at (it stops a few frames after the last one we got)."""
        ratio = self.seg.frames / self.total if self.total else 1.0
        first = min(self.seg.first + max(int(self.decoded * ratio) - 8, 0), self.info.frames - 1)
        found = first_bad_frame(file_url(self.info.path), self.info.frame_times, self.info.frame_times[first],
                                self.info.start_time)
        return (found[0], found[1]) if found else None

    # -- the encoder
    def start_encoder(self) -> None:
        cmd = encoder_cmd(self.exe, self.info, self.seg, self.raw, self.target.url, self.ext, self.vf_post,
                          self.encoder_args)
        if self.target.partial is not None:
            track_partial(self.target.partial)
        self.enc = track(subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                          stdout=None if self.target.partial is None else subprocess.DEVNULL,
                                          stderr=subprocess.PIPE))
        assert self.enc.stdin is not None and self.enc.stderr is not None  # both PIPE
        self.enc_err = Drain(self.enc.stderr)
        self.enc_err.start()
        grow_pipe(self.enc.stdin)

    def encoder_failed(self, what: str | None = None) -> BridgeError:
        assert self.enc is not None and self.enc_err is not None
        wait_briefly(self.enc)  # a dying FFmpeg has its last words still in the pipe
        kill(self.enc)
        what = f"{what}, {status(self.enc.returncode)}" if what else status(self.enc.returncode)
        return BridgeError(f"FFmpeg could not encode {self.target.path} ({what}):\n{self.enc_err.tail()}")

    # -- the frames
    def pump(self, reader: av.container.InputContainer, up: "Upscaler", window: int, overlap: int,
             scene_threshold: float, bar: Progress) -> None:
        """Decoded frames -> engine -> encoder, each upscaled frame with its source timestamp."""
        from vsadcvsr.engine import upscale_stream

        assert self.enc is not None and self.enc.stdin is not None
        vin = reader.streams.video[0]
        tb = _fraction(vin.time_base)
        rate = _fraction(vin.average_rate) if vin.average_rate else self.info.average_rate
        high = self.raw == "rgb48le"
        # the film's window grid, also for a part (--start): a part starting at a scene cut then gives exactly
        # the frames of a whole run (filters that change the rate scale the frame number)
        first_index = self.seg.first
        if self.vf_pre:
            src_rate = self.info.average_rate
            first_index = round(self.seg.first * rate / src_rate) if rate and src_rate else 0
        try:
            for y in upscale_stream(self.frames(reader), up, window=window, overlap=overlap,
                                    scene_threshold=scene_threshold, first_index=first_index):
                arr = from_tensor(y, high)
                if self.writer is None:  # the size comes from the engine's first frame (4x, or the model's scale)
                    self.writer = Writer.open(self.enc.stdin, arr.shape[1], arr.shape[0], self.raw, rate, tb)
                self.writer.put((arr, self.pts.popleft()))
                bar.update()
            if self.writer is None:
                raise self.decoder_failed("no frame came out of the decoder: check --vf-pre, --start and --end")
            self.writer.finish()
            self.enc.stdin.close()
            reader.close()
        except (BrokenPipeError, av.error.FFmpegError, OSError) as e:
            raise self.encoder_failed(getattr(e, "strerror", None) or str(e)) from None

    def expect(self, reader: av.container.InputContainer) -> None:
        """Sets `total`: with --vf-pre, as many more frames as its rate change makes (yadif=1, fps=...)."""
        if not self.vf_pre:
            return
        vin = reader.streams.video[0]
        rate = _fraction(vin.average_rate) if vin.average_rate else self.info.average_rate
        src_rate = self.info.average_rate
        self.total = round(self.seg.frames * rate / src_rate) if rate and src_rate else None

    # -- the end
    def check_complete(self, written: int) -> None:
        """Both processes ended cleanly and every frame of the range came through (or, allowed, says how many
        did not)."""
        assert self.enc is not None and self.dec is not None and self.dec_err is not None
        if self.enc.wait() != 0:
            raise self.encoder_failed()
        if self.dec.wait() != 0:
            raise self.decoder_failed()
        if self.vf_pre:
            return  # filters may drop or add frames: nothing to count against
        expected = self.seg.frames
        concealed = self.dec_err.count(_CORRUPT)
        if self.allow_lost:
            if written < expected or concealed:
                warn(f"{expected - written} frame(s) of {self.info.path} did not decode and {concealed} decoded "
                     f"with errors (--allow-lost-frames); {written} frame(s) written")
            return
        if not expected - self.leading <= written <= expected:
            nxt = min(self.seg.first + written, self.info.frames - 1)
            raise BridgeError(
                f"{self.info.path} ended after {written} of its {expected} frames (frame {nxt} at "
                f"{self.info.frame_times[nxt]:.3f}s did not come): it is truncated or corrupt. Nothing was written; "
                f"--allow-lost-frames upscales the frames that are left. FFmpeg said:\n{self.dec_err.tail()}"
            )

    def commit(self) -> None:
        if self.target.partial is not None:
            commit(self.target.partial, self.target.path)

    def clean_up(self) -> None:
        """After a failure or an interruption: the processes killed at once, the partial file removed."""
        if self.writer is not None:
            self.writer.release()
        kill(self.enc)
        kill(self.dec)
        if self.target.partial is not None:
            discard_partial(self.target.partial)

    def run(self, up: "Upscaler", *, window: int, overlap: int, scene_threshold: float, progress: bool) -> None:
        done = False
        bar: Progress | None = None
        try:
            reader = self.start_decoder()
            self.expect(reader)
            bar = Progress(self.total, enabled=progress, warmup=window - overlap)
            self.start_encoder()
            self.pump(reader, up, window, overlap, scene_threshold, bar)
            self.check_complete(bar.n)
            self.commit()
            done = True
        finally:
            if bar is not None:
                bar.close(done)
            if not done:
                self.clean_up()


def upscale_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    options: JobOptions | None = None,
    *,
    upscaler: "Upscaler | None" = None,
    **changes: Any,
) -> Path:
    """Upscales the first video stream of `src` x4 with AdcVSR into `dst`, keeping everything else.

    :param src:       input file (anything FFmpeg reads); never modified.
    :param dst:       output file; its extension picks the container. "-" writes Matroska to stdout.
    :param options:   the job's `JobOptions` (None: the defaults).
    :param upscaler:  an engine `Upscaler` already loaded (a cluster worker loads its model once); then `model`,
                      `device`, `precision`, `backend`, `tile`, `tile_overlap` and `colour_fix` are not used.
    :param changes:   single options over `options`, by their JobOptions names: `upscale_file(src, dst,
                      device="cuda", start=100)`.
    :returns:         the output path (Path("-") for stdout).
    :raises BridgeError: with a one-paragraph message (FFmpeg's own last lines when FFmpeg failed).

    The output is written beside `dst` as `.<name>.partial<ext>` and renamed only when both FFmpeg processes
    succeeded and every frame came through; on any error, KeyboardInterrupt or SystemExit both processes are
    killed and the file removed.
    """
    opts = JobOptions.with_changes(options, changes, "upscale_file")  # the settings checked first
    exe = find_ffmpeg(opts.ffmpeg_path)
    encoder_args = list(opts.encoder_args)
    src_p = Path(src)
    target = check_paths(src_p, dst, opts.overwrite)
    ext = target.ext(encoder_args)
    user_codec, _ = split_encoder_args(encoder_args)
    check_encoder(exe, user_codec or default_encoder_args(ext, False)[1])
    info = probe(src_p)
    seg = resolve_range(info, opts.start, opts.end)
    refuse_losses(info, seg, opts.allow_lost_frames)
    up = upscaler if upscaler is not None else load_upscaler(opts.model, opts.engine)
    job = _Job(exe, info, seg, target, ext, vf_pre=opts.vf_pre, vf_post=opts.vf_post, encoder_args=encoder_args,
               allow_lost=opts.allow_lost_frames)
    job.run(up, window=opts.engine.window, overlap=opts.engine.overlap, scene_threshold=opts.engine.scene_threshold,
            progress=opts.progress)
    return target.path
