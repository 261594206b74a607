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

`run_cluster` runs these steps, each a function or class below: `prepare_job` (the options, paths and encoder
checked, the source probed), `connect` (Ray), the plan (`segments.load_or_make_plan`, `segments.segments_to_do`),
`worker_shape` (how many workers the cluster holds), `WorkerPool.start` (every worker loads the model),
`Scheduler.run` (segments handed out, retried, dead workers replaced), `join_output` (`join.join_film`).

Ray is imported only here, only when a cluster job runs (`pip install vsadcvsr[cluster]`).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bridge import load_upscaler, upscale_file
from .commands import MP4, check_encoder, default_encoder_args, find_ffmpeg, split_encoder_args
from .errors import BridgeError, ClusterError
from .job_options import JobOptions
from .join import join_film
from .probe import SourceInfo, probe
from .progress import Progress
from .segments import (
    TRIES,
    Span,
    load_or_make_plan,
    make_segment_dir,
    plan_settings,
    segment_path,
    segments_to_do,
)

__all__ = ["ClusterError", "SegmentWorker", "connect", "run_cluster", "segment_options"]


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
        tmp = final.parent / TRIES / f"{final.stem}.{uuid.uuid4().hex[:8]}{final.suffix}"  # one per try
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


def connect(address: str, local_cpus: int | None = None) -> Any:
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


# ------------------------------------------------------------------------------------------------- the steps
@dataclass(frozen=True)
class ClusterJob:
    """A cluster job checked before Ray is reached: its paths, container, options and the probed source."""

    exe: str
    src: Path
    dst: Path
    seg_dir: Path
    ext: str  #: the output's container, from its extension (".mkv")
    user_codec: str | None  #: the video encoder the FFmpeg options name, if any
    options: JobOptions
    info: SourceInfo
    settings: dict[str, Any]  #: what plan.json records (`segments.plan_settings`)
    per_segment: JobOptions  #: what each segment is upscaled with (`segment_options`)


def check_request(src: Path, dst: str | os.PathLike[str], options: JobOptions, segment_frames: int,
                  worker_cores: int | None) -> Path:
    """Refuses what a cluster job cannot do (a range, stdout) and an input or output that does not fit; returns
    the output's path."""
    if options.start is not None or options.end is not None:
        raise BridgeError("a cluster job upscales the whole file: start and end cannot be given")
    if str(dst) == "-":
        raise BridgeError("a cluster job writes a file, not stdout: name an output file")
    out = Path(dst)
    if not src.exists():
        raise BridgeError(f"input not found: {src}")
    if out.exists() and out.resolve() == src.resolve():
        raise BridgeError(f"output is the input file: {out}")
    if out.exists() and not options.overwrite:
        raise BridgeError(f"output exists: {out} (use --overwrite to replace it)")
    if not out.parent.is_dir():
        raise BridgeError(f"output folder does not exist: {out.parent}")
    if not out.suffix:
        raise BridgeError(f"output {out} has no extension: name the container (.mkv, .mp4...)")
    if worker_cores is not None and worker_cores < 1:
        raise BridgeError(f"worker cores must be at least 1, not {worker_cores}")
    if segment_frames < 1:
        raise BridgeError(f"segment frames must be at least 1, not {segment_frames}")
    return out


def prepare_job(src: str | os.PathLike[str], dst: str | os.PathLike[str], options: JobOptions, *,
                segment_dir: str | os.PathLike[str], segment_frames: int, worker_cores: int | None) -> ClusterJob:
    """Everything a job checks before Ray is reached: FFmpeg found, the request (`check_request`), no -f, the
    encoder known; then the source probed."""
    exe = find_ffmpeg(options.ffmpeg_path)
    src_p, seg_dir = Path(src), Path(segment_dir)
    dst_p = check_request(src_p, dst, options, segment_frames, worker_cores)
    ext = dst_p.suffix.lower()
    user_codec, user_fmt = split_encoder_args(options.encoder_args)
    if user_fmt:
        raise BridgeError("-f is not supported with --cluster: the output's extension names the container")
    check_encoder(exe, user_codec or default_encoder_args(ext, False)[1])
    info = probe(src_p)
    return ClusterJob(exe, src_p, dst_p, seg_dir, ext, user_codec, options, info,
                      plan_settings(options, ext, segment_frames), segment_options(options))


@contextmanager
def timed(timings: dict[str, Any], key: str) -> Iterator[None]:
    """Records the seconds the block took as `timings[key]` (nothing when it raises)."""
    t0 = time.monotonic()
    yield
    timings[key] = time.monotonic() - t0


@dataclass(frozen=True)
class WorkerShape:
    """The workers a cluster holds: how many (`slots`), what each reserves of Ray, its torch threads."""

    slots: int
    resources: dict[str, Any]  #: ray.remote's num_gpus / num_cpus
    threads: int | None  #: torch threads (None: torch's default, for a GPU worker)


def worker_shape(resources: Mapping[str, float], device: str, address: str, worker_cores: int | None) -> WorkerShape:
    """One worker per GPU with a CUDA device, else one per `worker_cores` (default 2) CPUs of the cluster's
    `resources`; ClusterError when it holds none."""
    if str(device).startswith("cuda"):
        slots = int(resources.get("GPU", 0))
        if slots < 1:
            raise ClusterError(f"--device {device}: the Ray cluster at {address} has no GPU")
        return WorkerShape(slots, {"num_gpus": 1, "num_cpus": 1}, None)
    cores = worker_cores or 2
    slots = int(resources.get("CPU", 0) // cores)
    if slots < 1:
        raise ClusterError(f"the Ray cluster at {address} has {resources.get('CPU', 0):g} CPUs: "
                           f"fewer than --worker-cores {cores}")
    return WorkerShape(slots, {"num_cpus": cores}, cores)


class WorkerPool:
    """The job's `SegmentWorker` actors: started together, a dead one replaced, all killed at the end."""

    def __init__(self, ray: Any, shape: WorkerShape, options: JobOptions) -> None:
        self.ray = ray
        self.cls = ray.remote(**shape.resources, max_restarts=0)(SegmentWorker)
        self.options, self.threads = options, shape.threads
        self.actors: list[Any] = []

    def start(self, n: int) -> list[int]:
        """Starts `n` workers and returns their PIDs once each has loaded the model (a model that does not load
        fails here, once, as ClusterError)."""
        self.actors = [self.cls.remote(self.options, self.threads) for _ in range(n)]
        try:
            return self.ray.get([a.pid.remote() for a in self.actors])
        except self.ray.exceptions.RayError as e:
            raise ClusterError(f"a worker could not start: {_first_line(getattr(e, 'cause', None) or e)}") from None

    def replace(self, actor: Any) -> Any:
        """Kills a worker whose process died and returns a new one in its place."""
        self.actors.remove(actor)
        self.ray.kill(actor)
        new = self.cls.remote(self.options, self.threads)
        self.actors.append(new)
        return new

    def stop(self) -> None:
        """Kills every worker."""
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []

    def stop_quietly(self) -> None:
        """Kills every worker still there, ignoring errors (on the way out of a failed or interrupted job)."""
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:
                pass


class Scheduler:
    """Hands the segments to do to free workers until every one is written: a failed segment goes back to the
    front of the queue for the next free worker (at most `retries` more times), the worker of a segment whose
    process died is replaced first. Fills `timings` with segment_frames, segment_s and schedule_s."""

    def __init__(self, ray: Any, pool: WorkerPool, job: ClusterJob, bar: Progress, retries: int,
                 timings: dict[str, Any]) -> None:
        self.ray, self.pool, self.job, self.bar, self.retries, self.timings = ray, pool, job, bar, retries, timings
        self.src = str(job.src.resolve())
        self.queue: list[Span] = []
        self.tries: dict[int, int] = {}
        self.free: list[Any] = []
        self.pending: dict[Any, tuple[Span, Any]] = {}  # ObjectRef -> (span, its worker)
        self.segment_s: list[float] = []
        self.schedule_s: list[float] = []

    def run(self, todo: Sequence[Span]) -> None:
        """Returns when every segment of `todo` is written; ClusterError for one that failed every try."""
        self.queue = list(todo)
        self.tries = {s.index: 0 for s in todo}
        self.free = list(self.pool.actors)
        while self.queue or self.pending:
            self.hand_out()
            self.collect()
        self.timings["segment_s"] = self.segment_s
        self.timings["schedule_s"] = self.schedule_s

    def hand_out(self) -> None:
        """Gives the next segments of the queue to the free workers."""
        while self.queue and self.free:
            span, actor = self.queue.pop(0), self.free.pop(0)
            ts = time.perf_counter()
            ref = actor.run.remote(self.src, span.to_json(),
                                   str(segment_path(self.job.seg_dir, span, self.job.ext).resolve()))
            self.schedule_s.append(time.perf_counter() - ts)
            self.pending[ref] = (span, actor)
            self.tries[span.index] += 1

    def collect(self) -> None:
        """Waits up to 5 s for a segment to end and takes its result: counted when written, else retried."""
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=5.0)
        if not ready:
            self.bar.update(0)
            return
        span, actor = self.pending.pop(ready[0])
        try:
            result = self.ray.get(ready[0])
        except self.ray.exceptions.RayActorError as e:  # the worker process died: replace it
            reason = f"its worker died ({_first_line(e)})"
            actor = self.pool.replace(actor)
        except self.ray.exceptions.RayError as e:
            reason = _first_line(getattr(e, "cause", None) or e)
        else:
            self.free.append(actor)
            self.segment_s.append(result["seconds"])
            self.timings.setdefault("segment_frames", []).append(span.frames)
            self.bar.update(span.frames)
            return
        self.free.append(actor)
        self.retry(span, reason)

    def retry(self, span: Span, reason: str) -> None:
        """Puts a failed segment back at the front of the queue, or raises ClusterError after its last try."""
        frames = f"frames {span.first}-{span.stop - 1}"
        if self.tries[span.index] > self.retries:
            raise ClusterError(
                f"segment {span.index} ({frames}) failed {self.tries[span.index]} times; last: {reason}. "
                f"Finished segments are kept in {self.job.seg_dir}: run the same command again to resume")
        print(f"adcvsr-ffmpeg: segment {span.index} ({frames}) failed: {reason}; retrying", file=sys.stderr,
              flush=True)
        self.queue.insert(0, span)


def join_output(job: ClusterJob, spans: Sequence[Span]) -> float:
    """Joins every segment into the output with the source's other streams (`join.join_film`) and clears the
    tries' folder; returns the join's seconds. Refuses missing segments and an output that appeared meanwhile."""
    parts = [segment_path(job.seg_dir, s, job.ext) for s in spans]
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise ClusterError(f"segments missing after the run: {', '.join(missing)}")
    if job.dst.exists() and not job.options.overwrite:
        raise BridgeError(f"output exists: {job.dst} (use --overwrite to replace it)")
    hevc_in_mp4 = job.ext in MP4 and (job.user_codec or "libx265") in ("libx265", "hevc")
    seconds = join_film(parts, job.info, job.dst, job.exe, ["-tag:v", "hvc1"] if hevc_in_mp4 else [])
    shutil.rmtree(job.seg_dir / TRIES, ignore_errors=True)
    return seconds


# ------------------------------------------------------------------------------------------------------ the job
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
    Raises BridgeError (ClusterError for the cluster's own failures). On any error or interruption the workers
    are killed and Ray is shut down; finished segments stay for a re-run.
    """
    t_start = time.monotonic()
    opts = JobOptions.with_changes(options, changes, "run_cluster")  # the settings checked first
    job = prepare_job(src, dst, opts, segment_dir=segment_dir, segment_frames=segment_frames,
                      worker_cores=worker_cores)
    timings: dict[str, Any] = stats if stats is not None else {}
    with timed(timings, "connect_s"):
        ray = connect(address, local_cpus=local_cpus)  # before any work: an unreachable cluster fails here
    pool: WorkerPool | None = None
    bar: Progress | None = None
    done_ok = False
    try:
        make_segment_dir(job.seg_dir)
        with timed(timings, "plan_s"):
            spans = load_or_make_plan(job.seg_dir, job.info, job.settings)
        todo = segments_to_do(job.seg_dir, spans, job.ext)
        timings.update(segments=len(spans), todo=len(todo))

        shape = worker_shape(ray.cluster_resources(), opts.device, address, worker_cores)
        pool = WorkerPool(ray, shape, job.per_segment)
        bar = Progress(job.info.frames, enabled=opts.progress)
        bar.update(sum(s.frames for s in spans) - sum(s.frames for s in todo))
        timings["worker_pids"] = pool.start(min(shape.slots, len(todo)))
        timings["workers"] = len(pool.actors)
        timings["startup_s"] = time.monotonic() - t_start

        Scheduler(ray, pool, job, bar, retries, timings).run(todo)
        pool.stop()
        timings["join_s"] = join_output(job, spans)
        timings["total_s"] = time.monotonic() - t_start
        done_ok = True
    finally:
        if bar is not None:
            bar.close(done_ok)
        if pool is not None:
            pool.stop_quietly()
        ray.shutdown()
    return job.dst


def _first_line(e: BaseException) -> str:
    """The last meaningful line of a (Ray-wrapped) error: the worker's own message."""
    text = str(e).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "BridgeError:" in ln:
            return ln.split("BridgeError:", 1)[1].strip()
    return lines[-1] if lines else type(e).__name__
