"""Joins parts made with --start/--end into one file, losslessly (FFmpeg's concat demuxer, stream copy).

    python -m ffmpeg_filter.join OUTPUT PART1 PART2 ... [--overwrite] [--ffmpeg PATH]

Each part is listed with the duration of its *video*, so the parts' frames follow each other exactly even
when a part's last audio packet runs a few milliseconds past its last frame (the next part starts its audio
with the first packet after the cut, so the audio joins without overlap).

`join_film` joins a cluster job's video-only segments the same way and muxes them with the source's other
streams, chapters and metadata, copied from the source itself.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import av

from .commands import find_ffmpeg, source_stream_maps
from .errors import BridgeError, ClusterError
from .probe import SourceInfo, file_url


def video_duration(path: str | os.PathLike[str]) -> float:
    """End of the last video frame minus the start of the first, in seconds, from the demuxed packets."""
    try:
        with av.open(file_url(path)) as c:
            v = c.streams.video[0]
            first = last_end = None
            for pkt in c.demux(v):
                if pkt.pts is None or not pkt.size:
                    continue
                first = pkt.pts if first is None else min(first, pkt.pts)
                last_end = max(last_end or pkt.pts, pkt.pts + (pkt.duration or 0))
            if first is None or last_end is None:
                raise BridgeError(f"{path}: no video frames")
            return float((last_end - first) * v.time_base)
    except (av.error.FFmpegError, IndexError) as e:
        raise BridgeError(f"cannot read part {path}: {e}") from None


def concat_list(parts: Sequence[Path], durations: Sequence[float]) -> str:
    """FFmpeg's concat list: each part as a quoted file: URL, followed by the duration of its video."""
    lines = []
    for part, duration in zip(parts, durations):
        quoted = file_url(part.resolve()).replace("'", "'\\''")
        lines += [f"file '{quoted}'", f"duration {duration:.6f}"]
    return "\n".join(lines) + "\n"


def _metadata(parts: Sequence[Path], durations: Sequence[float]) -> str:
    """FFMETADATA with the first part's global tags and every part's chapters, shifted to the part's place in the
    whole; a chapter cut in two by a part boundary (same title, ends where the next begins) is one chapter again."""
    def esc(text: str) -> str:
        return "".join("\\" + ch if ch in "=;#\\\n" else ch for ch in text)

    with av.open(file_url(parts[0])) as c:
        tags = {k: v for k, v in c.metadata.items() if k.upper() not in ("ENCODER", "DURATION")}
    chapters: list[list] = []  # [start_ns, end_ns, tags]
    offset = 0.0
    for part, duration in zip(parts, durations):
        with av.open(file_url(part)) as c:
            for ch in c.chapters():
                tb = ch["time_base"]
                start = round((float(ch["start"] * tb) + offset) * 1e9)
                end = round((float(ch["end"] * tb) + offset) * 1e9)
                meta = dict(ch["metadata"])
                if chapters and chapters[-1][2] == meta and abs(chapters[-1][1] - start) <= 2_000_000:
                    chapters[-1][1] = end
                else:
                    chapters.append([start, end, meta])
        offset += duration
    lines = [";FFMETADATA1", *(f"{esc(k)}={esc(v)}" for k, v in tags.items())]
    for start, end, meta in chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000000000", f"START={start}", f"END={end}",
                  *(f"{esc(k)}={esc(v)}" for k, v in meta.items())]
    return "\n".join(lines) + "\n"


def join_segments(parts: Sequence[str | os.PathLike[str]], dst: str | os.PathLike[str], *, overwrite: bool = False,
                  ffmpeg_path: str | os.PathLike[str] | None = None) -> Path:
    """Concatenates `parts` (in order) into `dst` with stream copy; atomic like upscale_file.

    The global tags of the first part and the chapters of all parts (merged across the cuts) are kept; FFmpeg's
    concat demuxer alone drops both."""
    exe = find_ffmpeg(ffmpeg_path)
    dst_p = Path(dst)
    if not parts:
        raise BridgeError("nothing to join")
    if dst_p.exists() and not overwrite:
        raise BridgeError(f"output exists: {dst_p} (use --overwrite to replace it)")
    resolved, durations = [], []
    for part in parts:
        p = Path(part).resolve()
        if not p.is_file():
            raise BridgeError(f"part not found: {part}")
        if p == dst_p.resolve():
            raise BridgeError(f"output is one of the parts: {dst_p}")
        resolved.append(p)
        durations.append(video_duration(p))
    listing = dst_p.parent / f".{dst_p.name}.parts.txt"
    meta = dst_p.parent / f".{dst_p.name}.meta.txt"
    tmp = dst_p.parent / f".{dst_p.name}.partial{dst_p.suffix}"
    listing.write_text(concat_list(resolved, durations))
    try:
        meta.write_text(_metadata(resolved, durations))
        _run_into([exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                   "-i", file_url(listing), "-f", "ffmetadata", "-i", file_url(meta), "-map", "0",
                   "-map_metadata", "1", "-map_chapters", "1", "-c", "copy", file_url(tmp)],
                  tmp, dst_p, BridgeError, "FFmpeg could not join the parts")
    finally:
        listing.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
    return dst_p


def _run_into(cmd: list[str], tmp: Path, dst: Path, error: type[Exception], message: str) -> None:
    """Runs FFmpeg writing `tmp`, then renames it to `dst`; on failure raises `error(message)` with FFmpeg's last
    words appended. `tmp` never outlives the call."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise error(f"{message}:\n{r.stderr.strip()[-2000:]}")
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _film_join_cmd(exe: str, info: SourceInfo, listing: Path, target: Path, ext: str,
                   extra: Sequence[str]) -> list[str]:
    """Concatenated video (stream copy) + every other stream, the chapters and the metadata of the source;
    `extra` output options before the target."""
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0"]
    if info.frame_times[0]:
        cmd += ["-itsoffset", f"{info.frame_times[0]:.6f}"]  # the source's first frame time, as in one run
    cmd += ["-i", file_url(listing), "-i", file_url(info.path), "-map", "0:v:0", "-c:v", "copy"]
    cmd += source_stream_maps(info, ext)
    return cmd + ["-map_metadata", "1", "-map_chapters", "1", *extra, file_url(target)]


def join_film(parts: Sequence[Path], info: SourceInfo, dst: Path, exe: str, extra: Sequence[str] = ()) -> float:
    """Joins a cluster job's video-only segments into `dst` (atomically) with the source's other streams; returns
    the seconds it took. Raises ClusterError when FFmpeg fails."""
    t0 = time.monotonic()
    durations = [video_duration(p) for p in parts]
    listing = dst.parent / f".{dst.name}.parts.txt"
    tmp = dst.parent / f".{dst.name}.partial{dst.suffix}"
    listing.write_text(concat_list(parts, durations))
    try:
        _run_into(_film_join_cmd(exe, info, listing, tmp, dst.suffix.lower(), extra), tmp, dst,
                  ClusterError, "FFmpeg could not join the segments")
    finally:
        listing.unlink(missing_ok=True)
    return time.monotonic() - t0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ffmpeg_filter.join", description=__doc__.splitlines()[0])
    p.add_argument("output")
    p.add_argument("parts", nargs="+")
    p.add_argument("--overwrite", "-y", action="store_true")
    p.add_argument("--ffmpeg", metavar="PATH")
    a = p.parse_args(argv)
    try:
        join_segments(a.parts, a.output, overwrite=a.overwrite, ffmpeg_path=a.ffmpeg)
    except BridgeError as e:
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
