"""A film upscaled on a Ray cluster, segment by segment, then joined losslessly with the source's other streams.

    adcvsr-ffmpeg IN OUT --cluster ADDRESS --segment-dir DIR [--segment-frames N] [--worker-cores N]

The film is cut at sure scene cuts (`segments.plan_segments`); each segment is `upscale_file(start, end)` (video
only) on a Ray actor that loaded the model once: one actor per GPU with a CUDA device, else one per
`worker_cores` CPU cores. Segments are written atomically into DIR, which every worker must reach at the same
path (a shared file system); DIR/plan.json records the source, the settings and the segments, so a re-run
resumes and finished segments are not redone. A failed segment is retried on the next free worker (at most
`retries` times), a dead worker is replaced. The parts are then joined with stream copy and muxed with the
source's audio, subtitles, attachments, chapters and metadata, which are copied from the source itself, so they
are bit for bit those of a one-process run.

Ray is imported only here, only when a cluster job runs (`pip install vsadcvsr[cluster]`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

from .bridge import load_upscaler, upscale_file
from .commands import (
    MP4,
    check_encoder,
    default_encoder_args,
    find_ffmpeg,
    source_stream_maps,
    split_encoder_args,
)
from .errors import BridgeError
from .job_options import JobOptions
from .join import video_duration
from .probe import SourceInfo, file_url, probe
from .progress import Progress
from .segments import Span, plan_segments

PLAN = "plan.json"
PLAN_VERSION = 1


class ClusterError(BridgeError):
    """A cluster job failed (unreachable cluster, a segment that failed every try, a plan for other settings)."""


# ------------------------------------------------------------------------------------------------- the worker
class SegmentWorker:
    """Runs segments in one process with one loaded model (a Ray actor; usable without Ray too). `options` are the
    segments' own: the job's, video only, no progress (`segment_options`)."""

    def __init__(self, options: JobOptions, threads: int | None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.options = options
        self.upscaler = load_upscaler(options.model, options.engine)

    def pid(self) -> int:
        return os.getpid()

    def run(self, src: str, span: dict, dst: str) -> dict:
        """Upscales source frames [first, stop) into `dst`, via a temporary file of its own renamed at the end."""
        t0 = time.monotonic()
        final = Path(dst)
        if final.is_dir():
            raise BridgeError(f"segment {span['index']}: {final} is a directory")
        tmp = final.parent / ".tmp" / f"{final.stem}.{uuid.uuid4().hex[:8]}{final.suffix}"  # one per try
        tmp.parent.mkdir(exist_ok=True)
        try:
            upscale_file(src, tmp, self.options, start=span["first"], end=span["stop"], upscaler=self.upscaler)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return {"index": span["index"], "seconds": time.monotonic() - t0, "pid": os.getpid(),
                "host": socket.gethostname()}


def segment_options(options: JobOptions) -> JobOptions:
    """What each segment is upscaled with: the job's options, video only, into a fresh temporary file, quietly;
    lost frames are an error in a segment (as without --allow-lost-frames)."""
    return dataclasses.replace(options, encoder_args=(*options.encoder_args, "-an", "-sn", "-dn"), overwrite=True,
                               progress=False, allow_lost_frames=False,
                               ffmpeg_path=str(options.ffmpeg_path) if options.ffmpeg_path else None)


# ---------------------------------------------------------------------------------------------- Ray connection
def _check_reachable(address: str) -> None:
    """Fails fast on a HOST:PORT (or ray://HOST:PORT) nobody listens on; Ray itself would retry for minutes."""
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"invalid cluster address {address!r}: use local, auto, HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except OSError as e:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {e.strerror or e}") from None


def connect(address: str, local_cpus: int | None = None):
    """ray.init for `address`: "local" starts a Ray cluster on this machine for this job, "auto" joins the one
    started here with `ray start`, HOST:PORT joins a cluster's head (GCS port), ray://HOST:PORT uses Ray Client."""
    kwargs: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False, "include_dashboard": False}
    if address == "local":
        kwargs["num_cpus"] = local_cpus or os.cpu_count()
        target = "local"  # always a new cluster (no address would join one that `ray start` made here)
    elif address == "auto":
        target = "auto"
    else:
        _check_reachable(address)
        target = address
    try:
        import ray
    except ImportError:
        raise ClusterError("--cluster needs Ray: pip install 'vsadcvsr[cluster]'") from None
    if target != "local":
        kwargs.pop("include_dashboard")
    try:
        ray.init(address=target, **kwargs)
    except Exception as e:
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {type(e).__name__}: {e}") from None
    return ray


# ------------------------------------------------------------------------------------------------------ the plan
#: the options a plan records (with the container and the segment length): a re-run with others is refused
PLAN_OPTIONS = ("model", "device", "precision", "backend", "window", "overlap", "tile", "tile_overlap",
                "scene_threshold", "colour_fix", "vf_pre", "vf_post", "encoder_args")


def plan_settings(options: JobOptions, ext: str, segment_frames: int) -> dict[str, Any]:
    """What plan.json records of the job, as JSON values (a tuple is stored as a list)."""
    s = {k: getattr(options, k) for k in PLAN_OPTIONS}
    s["model"] = str(s["model"])
    s["colour_fix"] = "wavelet" if s["colour_fix"] is True else "none" if s["colour_fix"] is False else s["colour_fix"]
    s["container"] = ext
    s["segment_frames"] = segment_frames
    return json.loads(json.dumps(s))


def load_or_make_plan(seg_dir: Path, info: SourceInfo, settings: dict[str, Any]) -> list[Span]:
    """The plan in `seg_dir` (checked against this job), or a new one written there."""
    source = {"path": str(info.path.resolve()), "size": info.path.stat().st_size, "frames": info.frames}
    path = seg_dir / PLAN
    if path.exists():
        try:
            old = json.loads(path.read_text())
            spans = [Span(**d) for d in old["segments"]]
        except (ValueError, KeyError, TypeError) as e:
            raise ClusterError(f"{path} is not a plan this version can read ({e}): use an empty --segment-dir"
                               ) from None
        changed = [k for k in sorted(set(settings) | set(old.get("settings", {})))
                   if settings.get(k) != old["settings"].get(k)]
        changed += [f"source {k}" for k in source if source[k] != old.get("source", {}).get(k)]
        if changed:
            raise ClusterError(
                f"{seg_dir} holds segments of another job (different: {', '.join(changed)}); "
                "use another --segment-dir, or empty this one to start over")
        return spans
    spans = plan_segments(info, settings["segment_frames"], settings["scene_threshold"])
    doc = {"version": PLAN_VERSION, "source": source, "settings": settings,
           "segments": [s.to_json() for s in spans]}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)
    return spans


def segment_path(seg_dir: Path, span: Span, ext: str) -> Path:
    return seg_dir / f"seg-{span.index:05d}{ext}"


# -------------------------------------------------------------------------------------------------------- join
def _join_cmd(exe: str, info: SourceInfo, listing: Path, target: Path, ext: str) -> list[str]:
    """Concatenated video (stream copy) + every other stream, the chapters and the metadata of the source."""
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0"]
    if info.frame_times[0]:
        cmd += ["-itsoffset", f"{info.frame_times[0]:.6f}"]  # the source's first frame time, as in one run
    cmd += ["-i", file_url(listing), "-i", file_url(info.path), "-map", "0:v:0", "-c:v", "copy"]
    cmd += source_stream_maps(info, ext)
    return cmd + ["-map_metadata", "1", "-map_chapters", "1", file_url(target)]


def join_film(parts: Sequence[Path], info: SourceInfo, dst: Path, exe: str, extra: Sequence[str] = ()) -> float:
    """Joins the segments into `dst` (atomically) with the source's other streams; returns the seconds it took."""
    t0 = time.monotonic()
    ext = dst.suffix.lower()
    listing = dst.parent / f".{dst.name}.parts.txt"
    tmp = dst.parent / f".{dst.name}.partial{dst.suffix}"
    lines = []
    for p in parts:
        quoted = file_url(p.resolve()).replace("'", "'\\''")
        lines += [f"file '{quoted}'", f"duration {video_duration(p):.6f}"]
    listing.write_text("\n".join(lines) + "\n")
    try:
        r = subprocess.run([*_join_cmd(exe, info, listing, tmp, ext)[:-1], *extra, file_url(tmp)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise ClusterError(f"FFmpeg could not join the segments:\n{r.stderr.strip()[-2000:]}")
        os.replace(tmp, dst)
    finally:
        listing.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return time.monotonic() - t0


# ------------------------------------------------------------------------------------------------- the scheduler
def run_cluster(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    options: JobOptions | None = None,
    *,
    address: str = "local",
    segment_dir: str | os.PathLike[str],
    segment_frames: int = 3000,
    worker_cores: int | None = None,
    retries: int = 2,
    local_cpus: int | None = None,
    stats: dict | None = None,
    **changes: Any,
) -> Path:
    """Upscales `src` into `dst` on a Ray cluster, segment by segment (see the module's docstring).

    :param options:        the job's `JobOptions`, as for `upscale_file` (None: the defaults); the whole file is
                           upscaled (`start` and `end` must be None) and lost frames are an error in a segment.
    :param address:        "local" (a Ray cluster on this machine for this job, all its cores), "auto" (the
                           cluster started here with `ray start`), "HOST:PORT" (a head's GCS port) or
                           "ray://HOST:PORT" (Ray Client).
    :param segment_dir:    where segments and plan.json live; the same path on every machine (shared storage).
    :param segment_frames: nominal segment length; each boundary moves to a sure scene cut within
                           min(segment_frames/4, 150) frames where there is one.
    :param worker_cores:   CPU cores per worker (one actor each, its torch threads); default 2. With a CUDA
                           device: one worker per GPU.
    :param retries:        tries after the first for a failed segment (on the next free worker).
    :param local_cpus:     CPUs of the "local" cluster (default: all of this machine's).
    :param stats:          filled with timings (plan, scheduling, segments, join) when given.
    :param changes:        single options over `options`, by their JobOptions names.
    Raises BridgeError (ClusterError for the cluster's own failures).
    """
    t_start = time.monotonic()
    opts = JobOptions.with_changes(options, changes, "run_cluster")  # the settings checked first
    exe = find_ffmpeg(opts.ffmpeg_path)
    src_p, dst_p, seg_dir = Path(src), Path(dst), Path(segment_dir)
    if opts.start is not None or opts.end is not None:
        raise BridgeError("a cluster job upscales the whole file: start and end cannot be given")
    if str(dst) == "-":
        raise BridgeError("a cluster job writes a file, not stdout: name an output file")
    if not src_p.exists():
        raise BridgeError(f"input not found: {src_p}")
    if dst_p.exists() and dst_p.resolve() == src_p.resolve():
        raise BridgeError(f"output is the input file: {dst_p}")
    if dst_p.exists() and not opts.overwrite:
        raise BridgeError(f"output exists: {dst_p} (use --overwrite to replace it)")
    if not dst_p.parent.is_dir():
        raise BridgeError(f"output folder does not exist: {dst_p.parent}")
    if not dst_p.suffix:
        raise BridgeError(f"output {dst_p} has no extension: name the container (.mkv, .mp4...)")
    if worker_cores is not None and worker_cores < 1:
        raise BridgeError(f"worker cores must be at least 1, not {worker_cores}")
    if segment_frames < 1:
        raise BridgeError(f"segment frames must be at least 1, not {segment_frames}")
    ext = dst_p.suffix.lower()
    user_codec, user_fmt = split_encoder_args(opts.encoder_args)
    if user_fmt:
        raise BridgeError("-f is not supported with --cluster: the output's extension names the container")
    check_encoder(exe, user_codec or default_encoder_args(ext, False)[1])
    info = probe(src_p)
    settings = plan_settings(opts, ext, segment_frames)
    per_segment = segment_options(opts)
    cuda = str(opts.device).startswith("cuda")
    cores = worker_cores or 2

    timings: dict[str, Any] = stats if stats is not None else {}
    t0 = time.monotonic()
    ray = connect(address, local_cpus=local_cpus)  # before any work: an unreachable cluster fails here
    timings["connect_s"] = time.monotonic() - t0
    actors: list = []
    bar: Progress | None = None
    done_ok = False
    try:
        try:
            seg_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BridgeError(f"cannot make the segment folder {seg_dir}: {e.strerror or e}") from None
        t0 = time.monotonic()
        spans = load_or_make_plan(seg_dir, info, settings)
        timings["plan_s"] = time.monotonic() - t0
        shutil.rmtree(seg_dir / ".tmp", ignore_errors=True)  # what killed tries of an earlier run left
        todo = [s for s in spans if not segment_path(seg_dir, s, ext).is_file()]
        timings.update(segments=len(spans), todo=len(todo))

        resources = ray.cluster_resources()
        if cuda:
            slots = int(resources.get("GPU", 0))
            if slots < 1:
                raise ClusterError(f"--device {opts.device}: the Ray cluster at {address} has no GPU")
            resources_each: dict[str, Any] = {"num_gpus": 1, "num_cpus": 1}
            threads = None
        else:
            slots = int(resources.get("CPU", 0) // cores)
            if slots < 1:
                raise ClusterError(f"the Ray cluster at {address} has {resources.get('CPU', 0):g} CPUs: "
                                   f"fewer than --worker-cores {cores}")
            resources_each = {"num_cpus": cores}
            threads = cores
        worker_cls = ray.remote(**resources_each, max_restarts=0)(SegmentWorker)

        bar = Progress(info.frames, enabled=opts.progress)
        bar.update(sum(s.frames for s in spans) - sum(s.frames for s in todo))
        queue = list(todo)
        tries = {s.index: 0 for s in todo}
        free = [worker_cls.remote(per_segment, threads) for _ in range(min(slots, len(todo)))]
        actors = list(free)
        try:  # every worker loads the model now: a model that does not load fails here, once
            timings["worker_pids"] = ray.get([a.pid.remote() for a in free])
        except ray.exceptions.RayError as e:
            raise ClusterError(f"a worker could not start: {_first_line(getattr(e, 'cause', None) or e)}") from None
        timings["workers"] = len(free)
        timings["startup_s"] = time.monotonic() - t_start
        pending: dict = {}
        segment_s: list[float] = []
        sched_s: list[float] = []
        while queue or pending:
            while queue and free:
                span, actor = queue.pop(0), free.pop(0)
                ts = time.perf_counter()
                ref = actor.run.remote(str(src_p.resolve()), span.to_json(),
                                       str(segment_path(seg_dir, span, ext).resolve()))
                sched_s.append(time.perf_counter() - ts)
                pending[ref] = (span, actor)
                tries[span.index] += 1
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
            if not ready:
                bar.update(0)
                continue
            ref = ready[0]
            span, actor = pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as e:  # the worker process died: replace it
                reason = f"its worker died ({_first_line(e)})"
                actors.remove(actor)
                ray.kill(actor)
                actor = worker_cls.remote(per_segment, threads)
                actors.append(actor)
            except ray.exceptions.RayError as e:
                reason = _first_line(getattr(e, "cause", None) or e)
            else:
                free.append(actor)
                segment_s.append(result["seconds"])
                timings.setdefault("segment_frames", []).append(span.frames)
                bar.update(span.frames)
                continue
            free.append(actor)
            if tries[span.index] > retries:
                raise ClusterError(
                    f"segment {span.index} (frames {span.first}-{span.stop - 1}) failed {tries[span.index]} "
                    f"times; last: {reason}. Finished segments are kept in {seg_dir}: run the same command "
                    "again to resume")
            print(f"adcvsr-ffmpeg: segment {span.index} (frames {span.first}-{span.stop - 1}) failed: {reason}; "
                  "retrying", file=sys.stderr, flush=True)
            queue.insert(0, span)
        timings["segment_s"] = segment_s
        timings["schedule_s"] = sched_s
        for a in actors:
            ray.kill(a)
        actors = []
        parts = [segment_path(seg_dir, s, ext) for s in spans]
        missing = [p.name for p in parts if not p.is_file()]
        if missing:
            raise ClusterError(f"segments missing after the run: {', '.join(missing)}")
        if dst_p.exists() and not opts.overwrite:
            raise BridgeError(f"output exists: {dst_p} (use --overwrite to replace it)")
        extra = ["-tag:v", "hvc1"] if ext in MP4 and (user_codec or "libx265") in ("libx265", "hevc") else []
        timings["join_s"] = join_film(parts, info, dst_p, exe, extra)
        shutil.rmtree(seg_dir / ".tmp", ignore_errors=True)
        timings["total_s"] = time.monotonic() - t_start
        done_ok = True
    finally:
        if bar is not None:
            bar.close(done_ok)
        for a in actors:
            try:
                ray.kill(a)
            except Exception:
                pass
        ray.shutdown()
    return dst_p


def _first_line(e: BaseException) -> str:
    """The last meaningful line of a (Ray-wrapped) error: the worker's own message."""
    text = str(e).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "BridgeError:" in ln:
            return ln.split("BridgeError:", 1)[1].strip()
    return lines[-1] if lines else type(e).__name__
