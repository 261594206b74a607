"""adcvsr-ffmpeg: command line of the FFmpeg bridge. Nothing is printed to stdout (it may carry video) but the
answer of --ffmpeg-path."""
from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import time
import traceback
from typing import Sequence

from .bridge import upscale_file
from .commands import find_ffmpeg
from .errors import BridgeError
from .job_options import JobOptions, option_names
from .positions import parse_position
from .processes import abort_all
from .signals import Interrupted, SignalWatcher

PROG = "adcvsr-ffmpeg"

USAGE = (
    f"{PROG} INPUT OUTPUT [--model M] [--device D] [--precision P] [--backend B] [--compile] [--window N --overlap K]\n"
    f"{' ' * len(PROG)} [--tile T] [--vf-pre FILTERS] [--vf-post FILTERS] [--start S] [--end E] [--overwrite] [-q]\n"
    f"{' ' * len(PROG)} [--allow-lost-frames] [--ffmpeg PATH] [FFmpeg output options, e.g. -c:v libx264 -crf 20]\n"
    f"{' ' * len(PROG)} [--cluster ADDRESS --segment-dir DIR [--segment-frames N] [--worker-cores N]]\n"
    f"{PROG} --ffmpeg-path"
)

EPILOG = """\
Everything from the first option this tool does not know (or after `--`) is passed to the FFmpeg encoder
process as output options, in order; this tool's --long options are still recognised among them. Without -c:v
the video is encoded with libx265 CRF 18 (preset medium; SVT-AV1 CRF 24 for .webm), 10-bit for high bit depth
sources. Audio, subtitles, attachments,
chapters and metadata are copied from INPUT. OUTPUT "-" writes Matroska (or the format named with -f) to stdout.

Positions (--start, --end; the end is exclusive): 100 = frame 100, 4.5s = 4.5 seconds, 1:02.5 = 62.5 seconds.
An input that has lost frames (damaged data, a cut-off end, a frame that does not decode cleanly) is an error
naming where, before anything is written; --allow-lost-frames goes on and says how many were lost.
Exit status: 0 success, 1 error, 2 usage error, 130/143 interrupted by SIGINT/SIGTERM (nothing left behind).
"""


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(our arguments, FFmpeg output options), each in order.

    FFmpeg options start at the first option this tool does not know (or after `--`). Our `--long` options
    are still recognised among them (FFmpeg has no `--` options), so `-c:v libx264 --start 100` works;
    single-dash ones (-q, -y) there belong to FFmpeg, whose `-q` means something else.
    """
    ours: list[str] = []
    theirs: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        name = a.split("=", 1)[0]
        if a == "--":
            return ours, theirs + list(argv[i + 1:])
        if name in _KNOWN and (not theirs or name.startswith("--")):
            ours.append(a)
            if _KNOWN[name] and "=" not in a and i + 1 < len(argv):
                i += 1
                ours.append(argv[i])
        elif not theirs and (a == "-" or not a.startswith("-")):
            ours.append(a)
        else:
            theirs.append(a)
        i += 1
    return ours, theirs


def _position(text: str) -> str:
    """argparse type of --start/--end: checked here so a bad one is a usage error (exit 2)."""
    try:
        parse_position(text)
    except BridgeError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    """The options of adcvsr-ffmpeg; a new option is one add_argument line here (the argument splitter and the
    usage test read them from this parser)."""
    p = argparse.ArgumentParser(prog=PROG, usage=USAGE, epilog=EPILOG, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Real-world x4 video super-resolution (AdcVSR) for FFmpeg pipelines.")
    p.add_argument("input", nargs="?", help="input file (anything FFmpeg reads)")
    p.add_argument("output", nargs="?", help="output file; the extension picks the container; - for stdout")
    p.add_argument("--model", default="default", help='"default" (bundled weights) or a checkpoint path')
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    p.add_argument("--precision", default="auto", help="auto (fp16 on CUDA; CPU: bf16 for compact models "
                   "on CPUs with AVX512-BF16/AMX, else fp32), fp32, fp16, bf16 or int8 (CPU, compact models, "
                   "opt-in)")
    p.add_argument("--backend", choices=("torch", "onnxruntime", "openvino", "tensorrt"), default="torch",
                   help="inference runtime (default torch); the others run an ONNX export made once per model, "
                        "tensorrt on an NVIDIA GPU only (docs/onnx.md)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network (torch backend, not int8): about half a minute per frame size "
                        "before its second window, then faster on CUDA (not on the CPU); for long encodes")
    p.add_argument("--window", type=int, default=16, help="frames per temporal window (default 16)")
    p.add_argument("--overlap", type=int, default=4,
                   help="frames shared by neighbouring windows, at most half the window (default 4)")
    p.add_argument("--tile", type=int, default=0, help="tile size in input pixels, 0 = whole frames (default)")
    p.add_argument("--tile-overlap", type=int, default=32, help="tile overlap in input pixels (default 32)")
    p.add_argument("--scene-threshold", type=float, default=0.1, help="scene-cut threshold (default 0.1)")
    p.add_argument("--colour-fix", choices=("wavelet", "adain", "none"), default="wavelet",
                   help="colour correction against the input: wavelet (low frequencies from the input, default), "
                        "adain (per-channel mean/std per window) or none")
    p.add_argument("--vf-pre", metavar="FILTERS", help="FFmpeg filters before the model, e.g. yadif or crop=...")
    p.add_argument("--vf-post", metavar="FILTERS", help="FFmpeg filters after the model, e.g. scale=1920:-2")
    p.add_argument("--start", metavar="S", type=_position, help="first frame or time of the range (100, 4.5s, 1:02.5)")
    p.add_argument("--end", metavar="E", type=_position, help="end of the range, exclusive (same forms)")
    p.add_argument("--allow-lost-frames", action="store_true",
                   help="go on when the input has lost frames (damaged, cut off, frames that do not decode) and "
                        "say how many; by default that is an error and nothing is written")
    p.add_argument("--overwrite", "-y", action="store_true", help="replace an existing output")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.add_argument("--ffmpeg", metavar="PATH", help="FFmpeg binary (default $ADCVSR_FFMPEG, else imageio-ffmpeg's)")
    p.add_argument("--ffmpeg-path", action="store_true",
                   help="print the path of the FFmpeg this tool uses (the --ffmpeg one, if given) and exit")
    c = p.add_argument_group("cluster (Ray; pip install 'vsadcvsr[cluster]'; see docs/ffmpeg.md)")
    c.add_argument("--cluster", metavar="ADDRESS",
                   help="upscale segment by segment on a Ray cluster: local (a cluster on this machine for this "
                        "job), auto (the one `ray start` made here), HOST:PORT (a head node) or ray://HOST:PORT")
    c.add_argument("--segment-dir", metavar="DIR",
                   help="segments and plan.json, at the same path on every machine; a re-run resumes from it")
    c.add_argument("--segment-frames", metavar="N", type=int, default=3000,
                   help="nominal segment length, moved to a scene cut nearby (default 3000)")
    c.add_argument("--worker-cores", metavar="N", type=int, default=None,
                   help="CPU cores per worker, one model each (default 2; with --device cuda one worker per GPU)")
    return p


def _check_cluster_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors (exit 2) of the cluster options."""
    cluster_only = [o for o, v in (("--segment-dir", args.segment_dir), ("--worker-cores", args.worker_cores))
                    if v is not None]
    if args.cluster is None:
        if cluster_only:
            parser.error(f"{cluster_only[0]} needs --cluster")
        return
    if not args.segment_dir:
        parser.error("--cluster needs --segment-dir DIR (where the segments live, shared by all workers)")
    if args.output == "-":
        parser.error("--cluster writes a file, not stdout: name an output file")
    if args.start is not None or args.end is not None:
        parser.error("--start/--end cannot be used with --cluster (it upscales the whole file)")
    if args.allow_lost_frames:
        parser.error("--allow-lost-frames cannot be used with --cluster (a segment with lost frames fails its job)")
    if args.segment_frames < 1:
        parser.error(f"--segment-frames must be at least 1, not {args.segment_frames}")
    if args.worker_cores is not None and args.worker_cores < 1:
        parser.error(f"--worker-cores must be at least 1, not {args.worker_cores}")


def known_options(parser: argparse.ArgumentParser) -> dict[str, bool]:
    """Every option string of `parser` -> whether it takes a value."""
    return {o: a.nargs != 0 for a in parser._actions for o in a.option_strings}


_KNOWN = known_options(build_parser())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    ours, encoder_args = split_argv(argv)
    args = parser.parse_args(ours)  # exits 2 with "adcvsr-ffmpeg: error: ..." on usage errors
    if args.ffmpeg_path:  # the CLI's output, for `ffmpeg=$(adcvsr-ffmpeg --ffmpeg-path)`
        try:
            print(find_ffmpeg(args.ffmpeg))
        except BridgeError as e:
            print(f"{PROG}: error: {e}", file=sys.stderr)
            return 1
        return 0
    if args.input is None or args.output is None:
        parser.error("the following arguments are required: input, output")
    _check_cluster_args(parser, args)
    try:
        options = job_options(args, encoder_args)  # checks the engine settings: a bad one is a usage error
    except BridgeError as e:
        parser.error(str(e))

    # a cluster job unwinds on a signal (Ray shuts down; finished segments stay), forced after 10 s; a one-process
    # job ends at once, even inside a long model call
    cluster = args.cluster is not None
    with SignalWatcher(functools.partial(_abort, after=10.0 if cluster else 0.0), raise_in_main=cluster):
        try:
            if cluster:
                from .cluster import run_cluster  # imports Ray: only for a cluster job

                run_cluster(args.input, args.output, options, address=args.cluster, segment_dir=args.segment_dir,
                            segment_frames=args.segment_frames, worker_cores=args.worker_cores)
                return 0
            upscale_file(args.input, args.output, options)
        except Interrupted as e:
            print(f"{PROG}: interrupted by {e}; the partial output was removed", file=sys.stderr)
            return 128 + e.signum
        except BridgeError as e:
            print(f"{PROG}: error: {e}", file=sys.stderr)
            return 1
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            if os.environ.get("ADCVSR_DEBUG"):
                traceback.print_exc()
            print(f"{PROG}: error: {type(e).__name__}: {e} (ADCVSR_DEBUG=1 shows where)", file=sys.stderr)
            return 1
    return 0


#: JobOptions fields whose command-line argument has another name (the others: the argument of the same name)
_RENAMED = ("progress", "ffmpeg_path", "encoder_args")


def job_options(args: argparse.Namespace, encoder_args: Sequence[str]) -> JobOptions:
    """The job's options from the parsed command line: each option from the argument of its name, `progress` from
    --quiet, `ffmpeg_path` from --ffmpeg (--ffmpeg-path is the flag that prints it), `encoder_args` from the
    FFmpeg options. Raises BridgeError for a bad engine setting."""
    same = {name: getattr(args, name) for name in option_names() if name not in _RENAMED}
    return JobOptions(**same, progress=not args.quiet, ffmpeg_path=args.ffmpeg, encoder_args=encoder_args)


def _abort(signum: int, after: float = 0.0) -> None:
    """Runs in the signal watcher's thread: FFmpeg killed, partial output removed, exit 128 + signal; at once,
    or `after` seconds if the main thread has not finished by then."""
    if after:
        time.sleep(after)
    abort_all()
    name = signal.Signals(signum).name
    print(f"{PROG}: interrupted by {name}; the partial output was removed", file=sys.stderr, flush=True)
    os._exit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
