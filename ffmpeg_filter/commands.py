"""The FFmpeg command lines of the bridge: which FFmpeg, the decoder, the encoder and their defaults.

Every path handed to FFmpeg goes as a `file:` URL, so names with a colon (`2024-01-01T10:00:00.mkv`, `a:b.mkv`)
are files, not protocols.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Sequence

import ffmpeg

from .errors import BridgeError
from .positions import Segment
from .probe import SourceInfo, file_url

MATROSKA = {".mkv", ".mka", ".mks", ".webm"}
MP4 = {".mp4", ".m4v", ".mov", ".3gp"}
DATA_OK = {".mp4", ".m4v", ".mov", ".nut", ".ts", ".m2ts", ".mts"}
TEXT_SUBS = {"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"}
FORMAT_EXT = {"matroska": ".mkv", "webm": ".webm", "mp4": ".mp4", "mov": ".mov", "nut": ".nut", "mpegts": ".ts"}
_CODEC_FLAGS = {"-c:v", "-vcodec", "-codec:v", "-c:v:0", "-codec:v:0"}
_QUIET = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning"]
#: swscale flags for the decoder's YCbCr -> RGB: without them its fast path is off by about 1.3 levels (8-bit) in
#: RGB, and the output's luma by 1.2-1.4 levels from the source's; with them a round trip keeps luma within 0.02
#: levels. Chroma is taken per pixel from its sample (neighbor), as the fast path did.
_EXACT_RGB = "accurate_rnd+full_chroma_int+neighbor"


def find_ffmpeg(ffmpeg_path: str | os.PathLike[str] | None = None) -> str:
    """The FFmpeg to run: `ffmpeg_path`, else $ADCVSR_FFMPEG, else the static build of imageio-ffmpeg."""
    name = str(ffmpeg_path) if ffmpeg_path else os.environ.get("ADCVSR_FFMPEG") or ""
    if not name:
        try:
            import imageio_ffmpeg

            return str(imageio_ffmpeg.get_ffmpeg_exe())
        except Exception as e:  # the wheel raises RuntimeError when its binary is missing
            raise BridgeError(f"no FFmpeg found: {e}; name one with --ffmpeg or ADCVSR_FFMPEG") from None
    found = shutil.which(name)
    if not found:
        raise BridgeError(f"FFmpeg not found or not executable: {name}")
    return found


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
    if ext in MP4:
        args += ["-tag:v", "hvc1"]
    return args


def output_pix_fmt(info: SourceInfo) -> str:
    depth = "10le" if info.high_bit_depth else ""
    return f"yuv{info.chroma}p{depth}"


def check_encoder(exe: str, name: str) -> None:
    """Fails early, before any frame is upscaled, when FFmpeg has no such video encoder."""
    r = subprocess.run([exe, "-hide_banner", "-h", f"encoder={name}"], capture_output=True, text=True, timeout=60)
    if "is not recognized" in r.stdout + r.stderr or "Encoder " not in r.stdout:
        raise BridgeError(f"unknown encoder {name!r}: this FFmpeg ({exe}) has no such encoder")
    if "Supported pixel formats" not in r.stdout and "video" not in r.stdout.lower():
        raise BridgeError(f"{name!r} is not a video encoder")


def decoder_cmd(exe: str, info: SourceInfo, seg: Segment, raw: str, vf_pre: str | None, strict: bool) -> list[str]:
    """The decoder: source -> `raw` RGB frames in NUT on stdout, each with its own timestamp.

    `strict` adds `-xerror`: a frame that does not decode cleanly (or damaged data) ends FFmpeg with an error
    instead of being concealed or dropped.
    """
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
        chain.append(f"scale=in_color_matrix={info.matrix}:in_range={rng}:flags={_EXACT_RGB}")
    chain.append(f"format={raw}")
    in_kwargs = {"ss": f"{seek:.6f}"} if seek is not None else {}
    spec = ffmpeg.input(file_url(info.path), **in_kwargs)["v:0"].output(
        "pipe:",
        format="nut",
        vcodec="rawvideo",
        pix_fmt=raw,
        vf=",".join(chain),
        **{"fps_mode": "passthrough", "enc_time_base:v": "filter", "an": None, "sn": None, "dn": None},
    )
    return list(spec.compile(cmd=[exe, *_QUIET, *(["-xerror"] if strict else [])]))


def source_stream_maps(info: SourceInfo, ext: str) -> list[str]:
    """Input 1 (the source)'s audio, subtitles, data and attachments copied into an `ext` container, each with its own
    metadata; the video is output stream 0 (its metadata from the source's video)."""
    cmd: list[str] = []
    if info.audio:
        cmd += ["-map", "1:a", "-c:a", "copy"]
    subtitle_maps: list[int] = []
    if info.subtitles:
        if ext in MP4:  # MP4 holds text subtitles as mov_text only, bitmaps not at all
            subtitle_maps = [i for i, c in enumerate(info.subtitles) if c in TEXT_SUBS]
            for i in subtitle_maps:
                cmd += ["-map", f"1:s:{i}"]
            if subtitle_maps:
                cmd += ["-c:s", "mov_text"]
        else:
            subtitle_maps = list(range(len(info.subtitles)))
            cmd += ["-map", "1:s", "-c:s", "copy"]
    if info.data and ext in DATA_OK:
        cmd += ["-map", "1:d", "-c:d", "copy"]
    if info.attachments and ext in MATROSKA:
        cmd += ["-map", "1:t", "-c:t", "copy"]
    # any per-stream metadata map turns FFmpeg's default per-stream copy off: so map every stream's own
    for kind, pairs in (("v", [(0, 0)]), ("a", [(i, i) for i in range(info.audio)]),
                        ("s", list(enumerate(subtitle_maps)))):
        for out_i, in_i in pairs:
            cmd += [f"-map_metadata:s:{kind}:{out_i}", f"1:s:{kind}:{in_i}"]
    return cmd


def encoder_cmd(exe: str, info: SourceInfo, seg: Segment, raw: str, target: str, ext: str,
                vf_post: str | None, encoder_args: Sequence[str]) -> list[str]:
    """The encoder: NUT/raw RGB on stdin + the source's other streams -> `target` (a `file:` URL or pipe:)."""
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
    cmd = [exe, *_QUIET, "-y", "-f", "nut", "-i", "pipe:", *src_opts, "-i", file_url(info.path), "-map", "0:v:0"]
    cmd += source_stream_maps(info, ext)
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
