"""adcvsr-ffmpeg: command line of the FFmpeg bridge. Nothing is ever printed to stdout (it may carry video)."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from typing import Sequence

from .bridge import upscale_file
from .errors import BridgeError

PROG = "adcvsr-ffmpeg"

USAGE = (
    f"{PROG} INPUT OUTPUT [--model M] [--device D] [--precision P] [--window N --overlap K] [--tile T]\n"
    f"{' ' * len(PROG)} [--vf-pre FILTERS] [--vf-post FILTERS] [--start S] [--end E] [--overwrite] [-q]\n"
    f"{' ' * len(PROG)} [--ffmpeg PATH] [FFmpeg output options, e.g. -c:v libx264 -crf 20 -preset slow]"
)

EPILOG = """\
Everything from the first option this tool does not know (or after `--`) is passed to the FFmpeg encoder
process as output options, in order; this tool's --long options are still recognised among them. Without -c:v the video is encoded with libx265 CRF 18
(preset medium; SVT-AV1 CRF 24 for .webm), 10-bit for high bit depth sources. Audio, subtitles, attachments,
chapters and metadata are copied from INPUT. OUTPUT "-" writes Matroska (or the format named with -f) to stdout.

Positions (--start, --end; the end is exclusive): 100 = frame 100, 4.5s = 4.5 seconds, 1:02.5 = 62.5 seconds.
Exit status: 0 success, 1 error, 2 usage error, 130/143 interrupted by SIGINT/SIGTERM (nothing left behind).
"""

# known options: name -> takes a value
_KNOWN = {
    "--model": True, "--device": True, "--precision": True, "--window": True, "--overlap": True,
    "--tile": True, "--tile-overlap": True, "--scene-threshold": True, "--vf-pre": True, "--vf-post": True,
    "--start": True, "--end": True, "--ffmpeg": True, "--colour-fix": True,
    "--overwrite": False, "-y": False, "-q": False, "--quiet": False, "-h": False, "--help": False,
}


class _Interrupted(Exception):
    """Raised by the signal handler; an Exception (not BaseException) so PyAV's I/O callbacks pass it on."""


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, usage=USAGE, epilog=EPILOG, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Real-world x4 video super-resolution (AdcVSR) for FFmpeg pipelines.")
    p.add_argument("input", help="input file (anything FFmpeg reads)")
    p.add_argument("output", help="output file; the extension picks the container; - for stdout")
    p.add_argument("--model", default="default", help='"default" (bundled weights) or a checkpoint path')
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    p.add_argument("--precision", default="auto", help="auto (fp16 on CUDA; CPU: bf16 for compact models "
                   "on CPUs with AVX512-BF16/AMX, else fp32), fp32, fp16 or bf16")
    p.add_argument("--window", type=int, default=16, help="frames per temporal window (default 16)")
    p.add_argument("--overlap", type=int, default=4, help="frames shared by neighbouring windows (default 4)")
    p.add_argument("--tile", type=int, default=0, help="tile size in input pixels, 0 = whole frames (default)")
    p.add_argument("--tile-overlap", type=int, default=32, help="tile overlap in input pixels (default 32)")
    p.add_argument("--scene-threshold", type=float, default=0.1, help="scene-cut threshold (default 0.1)")
    p.add_argument("--colour-fix", choices=("wavelet", "adain", "none"), default="wavelet",
                   help="colour correction against the input: wavelet (low frequencies from the input, default), "
                        "adain (per-channel mean/std per window) or none")
    p.add_argument("--vf-pre", metavar="FILTERS", help="FFmpeg filters before the model, e.g. yadif or crop=...")
    p.add_argument("--vf-post", metavar="FILTERS", help="FFmpeg filters after the model, e.g. scale=1920:-2")
    p.add_argument("--start", metavar="S", help="first frame or time of the range (100, 4.5s, 1:02.5)")
    p.add_argument("--end", metavar="E", help="end of the range, exclusive (same forms)")
    p.add_argument("--overwrite", "-y", action="store_true", help="replace an existing output")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.add_argument("--ffmpeg", metavar="PATH", help="FFmpeg binary (default $ADCVSR_FFMPEG, else imageio-ffmpeg's)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    ours, encoder_args = split_argv(argv)
    args = parser.parse_args(ours)  # exits 2 with "adcvsr-ffmpeg: error: ..." on usage errors

    caught: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        if caught:  # already unwinding: let the clean-up finish
            return
        caught.append(signum)
        raise _Interrupted()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        upscale_file(
            args.input, args.output,
            model=args.model, device=args.device, precision=args.precision,
            window=args.window, overlap=args.overlap, tile=args.tile, tile_overlap=args.tile_overlap,
            scene_threshold=args.scene_threshold, colour_fix=args.colour_fix, vf_pre=args.vf_pre, vf_post=args.vf_post,
            start=args.start, end=args.end, encoder_args=encoder_args, overwrite=args.overwrite,
            progress=not args.quiet, ffmpeg_path=args.ffmpeg,
        )
    except BaseException as e:
        if caught:
            name = signal.Signals(caught[0]).name
            print(f"{PROG}: interrupted by {name}; the partial output was removed", file=sys.stderr)
            return 128 + caught[0]
        if isinstance(e, BridgeError):
            print(f"{PROG}: error: {e}", file=sys.stderr)
            return 1
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        if os.environ.get("ADCVSR_DEBUG"):
            traceback.print_exc()
        print(f"{PROG}: error: {type(e).__name__}: {e} (ADCVSR_DEBUG=1 shows where)", file=sys.stderr)
        return 1
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return 0


if __name__ == "__main__":
    sys.exit(main())
