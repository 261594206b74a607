"""The command-line options of the two training scripts, defined once.

`scripts/train.py` (a run of N steps) and `scripts/train_phases.py` (timed phases, an export after each) take the
same options for everything that defines a run (`TrainConfig`); each adds only what is its own (train.py: --steps,
--lr, --lr-halve-at, --max-seconds, --export FILE, --export-dtype; train_phases.py: --phases, --export PREFIX).
Where a default differs between them it does so on purpose, and --help says so (`PHASES_DEFAULTS`).
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

from .config import TrainConfig, parse_weights
from .losses import DETAIL_REAL
from .runtime import TF32_HELP

#: train_phases.py's own defaults, and why (it is the recipe for timed CPU/GPU sessions that start from a trained
#: student; train.py keeps the paper's values).
PHASES_DEFAULTS: dict[str, tuple[object, str]] = {
    "pixel_weight": (1.0, "train.py keeps the paper's 0.1; phases runs have no feature term to balance"),
    "grad_clip": (2.0, "train.py: off; timed runs from trained weights clip at 2"),
    "log_every": (25, "train.py: 10"),
}


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def add_run_options(ap: argparse.ArgumentParser, script: str) -> None:
    """The options shared by scripts/train.py (`script` "train") and scripts/train_phases.py ("phases")."""
    if script not in ("train", "phases"):
        raise ValueError(f"add_run_options: script must be train or phases, got {script!r}")
    d = TrainConfig(data="", run_dir="")

    def default(name: str) -> object:
        return PHASES_DEFAULTS[name][0] if script == "phases" and name in PHASES_DEFAULTS else getattr(d, name)

    def why(name: str) -> str:
        if name not in PHASES_DEFAULTS:
            return ""
        return f" (default here {default(name)}: {PHASES_DEFAULTS[name][1]})" if script == "phases" else \
            f" (default here {default(name)}; train_phases.py: {PHASES_DEFAULTS[name][0]})"

    def opt(name: str, kind: Callable | None = float, help: str = "",
            choices: tuple[object, ...] | None = None) -> None:
        flag = "--" + name.replace("_", "-")
        if kind is None:
            ap.add_argument(flag, action="store_true", help=help)
        else:
            ap.add_argument(flag, type=kind, default=default(name), help=help + why(name), choices=choices)

    ap.add_argument("--data", required=True, help=".npz made by scripts/make_training_data.py")
    ap.add_argument("--run-dir", required=True, help="folder for state.pt (resumable) and log.jsonl")
    opt("model", str, "configuration name (tiny, tiny-2d, compact, compact-2d, ...)")
    opt("stage", int, "1: regression; 2: adds the discriminators", choices=(1, 2))
    ap.add_argument("--init", default=None, help="state.pt to start the student and encoder from, or a .safetensors "
                    "checkpoint (e.g. vsadcvsr/weights/compact.safetensors) for the student alone")
    opt("batch", int, "clips per process")
    opt("crop", int, "LR crop side per step (0: stored size)")
    opt("frames", int, "frames per clip per step (0: stored number)")
    opt("teachers", parse_weights, "e.g. gt=1 or animevideov3=0.65,x4plus=0.35 (also x4plus-stable)")
    opt("teacher_mix", str, "losses: one loss per teacher, weighted; blend: one loss on the weighted mean of the "
        "teachers", choices=("losses", "blend"))
    opt("preset_weights", parse_weights, "sampling weight per degradation preset of the stored clips, e.g. "
        "mild=0.9,standard=0.1")
    opt("pixel_weight", float, "weight of the pixel-domain term")
    opt("perceptual_weight", float, "weight of the SSIM+Sobel stand-in for DISTS inside the pixel term")
    opt("contrast_weight", float, "local-contrast term (local standard deviations, not pixels) in the pixel term")
    opt("feature_weight", float, "feature-domain L1 (0: pixel domain only, as for the compact student)")
    opt("ae_weight", float, "the feature encoder's autoencoder term")
    opt("lowband_weight", float, "fidelity anchor: L1 of the output's 8x8 block means to the LR input's")
    opt("grid_weight", float, "sub-pixel grid term: the output's 4-px phase means against the HR frames'")
    opt("temporal_weight", float, "flicker term: the output's frame-to-frame luma changes against the HR frames'")
    opt("invariance_weight", float, "draw term: L1 between the luma high passes of the student's outputs for two LR "
        "draws of each clip (the set's lr_alt: make_training_data.py --add-second-draw), so that it makes detail of "
        "the content, not of the noise that changes from frame to frame")
    opt("noise_lr", float, "learning rate of the noise input's weights (--model compact-noise; they start at zero "
        "and at the student's lr grow too slowly to matter); 0: the student's lr")
    opt("noise_init", float, "std of the noise input's weights at the start of a run (replacing those of --init): "
        "at zero the noise does not reach the output, so its weights' gradient averages to zero and they only "
        "wander; 0.03 adds about half an 8-bit level of grain")
    opt("init_disc", str, "stage 2: start the discriminator and its optimiser from another run's state.pt (the "
        "same discriminator options), so that a changed student meets trained heads")
    opt("contrast_target", str, "what --contrast-weight's local standard deviations are matched to: teacher (the "
        "regression target, default) or hr (the HR frames: the real video's local energy, without its phase)")
    opt("disc_grain", float, "stage 2: the detail head also learns the student's output plus luma grain (std drawn "
        "between half and all of this many 8-bit levels, white or blurred) as fake, so that grain alone cannot "
        "answer it (sample type grainy_student; 0: off)")
    opt("ema", float, "decay of a moving average of the student's weights, exported in place of the live weights "
        "(0: off; 0.99: about the last 100 steps)")
    opt("pixel_colour_fix", str, "wavelet: the pixel losses see the output after the engine's wavelet colour fix",
        choices=("none", "wavelet"))
    opt("adv_pixel_weight", float, "stage 2: the pixel-domain adversarial term (inside the pixel term)")
    opt("adv_feature_weight", float, "stage 2: the feature-domain adversarial term (--disc-backbone paper)")
    opt("adv_start", int, "stage 2: steps in which the discriminator trains alone before the student sees it")
    opt("adv_heads", str, "stage 2, x4plus/scratch: both heads, or the detail head alone (the ablation)",
        choices=("both", "detail"))
    opt("detail_real", str, "stage 2: what the detail head learns as real: the still images (the paper), real "
        "video too (the same content as the student's output), real video alone, or --detail-teacher's output of the "
        "student's own clip alone", choices=DETAIL_REAL)
    opt("detail_teacher", str, "stage 2, --detail-real teacher: the teacher (in the training set) whose output is "
        "the detail head's real sample")
    opt("d_lr", float, "stage 2: discriminator learning rate")
    opt("d_stats_lr", float, "stage 2, x4plus/scratch: learning rate of the heads' linear statistics layers (0: "
        "--d-lr)")
    opt("d_steps", int, "stage 2: discriminator updates per student step (new crop places of the same batch)")
    opt("disc_luma", None, "stage 2, x4plus/scratch: the discriminator sees the luma only (BT.601 Y on all three "
        "channels), so the adversary cannot push the student's colours (colour fringes)")
    opt("disc_degrid", None, "stage 2, x4plus/scratch: the discriminator sees each frame less its 4-px periodic "
        "pattern, so the adversary cannot ask for a screen door (it met the heads' statistics with one)")
    opt("disc_degrid_window", int, "stage 2, --disc-degrid: the pattern removed per tile of this many 4x4 blocks a "
        "side (4 N px; must divide the crop's blocks), so a screen door whose phase varies across the crop goes too "
        "(0: one pattern over the whole crop)")
    opt("disc_flat", float, "stage 2, x4plus/scratch: the heads' detail statistics over this fraction of each "
        "crop's pixels, the flattest (least local feature energy), so edges do not drive them (1: all pixels)")
    opt("disc_local", float, "stage 2, x4plus/scratch: the detail head judges each 4x4 block of the flattest "
        "fraction of each crop (at LR scale) on its own, a linear logit on the block's channel statistics, with "
        "nothing crop-wide, so that only flat-area texture answers it (0: off, its logits everywhere plus the "
        "statistics)")
    opt("disc_place_hidden", int, "stage 2, --disc-local: the per-block logit a two-layer MLP with this hidden width, "
        "which can call real what lies between two fakes (the smooth student and grain) where a linear logit cannot "
        "(0: linear)")
    opt("disc_calibrate", int, "stage 2, x4plus/scratch: real clips the heads' statistics are standardised on "
        "before the first step (0: off)")
    opt("disc_backbone", str, "stage 2: paper = pixel and feature discriminators trained from scratch; x4plus = "
        "heads on Real-ESRGAN x4plus's frozen first convolutions (pixel domain); scratch = the same heads on a "
        "backbone trained from scratch", choices=("paper", "x4plus", "scratch"))
    opt("disc_depths", _ints, "stage 2, x4plus/scratch: backbone convolutions tapped, e.g. 6,16")
    opt("disc_width", int, "stage 2, x4plus/scratch: channels of the heads")
    opt("disc_crop", int, "stage 2, x4plus/scratch: HR crop side the discriminator sees (0: all)")
    opt("detail_channels", int, "stage 2, paper: detail logits of 256 (the rest are consistency)")
    opt("grad_clip", float, "generator gradient norm limit (0: off)")
    opt("seed", int)
    opt("threads", int, "torch threads on the CPU (0: torch's default)")
    opt("log_every", int, "steps per log line")
    opt("checkpoint_every_s", float, "seconds between state.pt checkpoints")
    opt("deterministic", None, "deterministic algorithms only")
    ap.add_argument("--contiguous", action="store_true", help="contiguous weights and activations instead of "
                    "channels_last (for a device where scripts/check_gradients.py finds channels_last wrong)")
    ap.add_argument("--tf32", action="store_true", help=TF32_HELP)


#: Parsed names that are not TrainConfig fields (the scripts' own, or mapped below).
_NOT_CONFIG = ("max_seconds", "export", "export_dtype", "tf32", "contiguous", "phases")


def config_from_args(a: argparse.Namespace, **overrides: object) -> TrainConfig:
    """The TrainConfig of parsed options (`add_run_options` plus a script's own), with `overrides` applied."""
    values = {k: v for k, v in vars(a).items() if k not in _NOT_CONFIG}
    values["channels_last"] = not a.contiguous
    values.update(overrides)
    return TrainConfig(**values)
