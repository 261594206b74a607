"""What defines a training run: `TrainConfig` (stored in its checkpoints) and the teacher-weight syntax."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    """Everything that defines a run (stored in its checkpoints)."""

    data: str
    run_dir: str
    model: str = "tiny"
    stage: int = 1
    steps: int = 2000  # optimiser steps of this stage
    batch: int = 2  # clips per process
    crop: int = 0  # LR crop side taken from the stored clips each step (0: the whole stored crop); multiple of 16
    frames: int = 0  # frames taken from the stored clips each step (0: all)
    lr: float = 2e-4  # generator (student + encoder)
    lr_halve_at: float = 0.5  # fraction of `steps` after which the lr is halved (paper: 100 K of 200 K)
    d_lr: float = 1e-4  # discriminators (stage 2)
    d_stats_lr: float = 0.0  # the heads' linear statistics layers (x4plus/scratch; 0: d_lr)
    d_steps: int = 1  # discriminator updates per student step, each on new crop places of the step's batch
    disc_calibrate: int = 0  # real clips the heads' statistics are standardised on before the first step (0: off)
    disc_luma: bool = False  # the backbone discriminator sees the luma only (x4plus/scratch)
    disc_degrid: bool = False  # it sees each frame less its 4-px periodic pattern (losses.remove_grid)
    disc_degrid_window: int = 0  # with disc_degrid: that pattern per tile of this many 4x4 blocks a side (0: crop)
    disc_flat: float = 1.0  # the heads' detail statistics over this fraction of each crop, the flattest (1: all)
    disc_local: float = 0.0  # the detail head per 4x4 block on this fraction of blocks, the flattest (0: off)
    disc_place_hidden: int = 0  # with disc_local: that per-block logit an MLP with this hidden width (0: linear)
    grad_clip: float = 0.0  # clip the generator's gradient norm to this (0: off)
    teachers: dict[str, float] = field(default_factory=lambda: {"gt": 1.0})
    # "losses": one loss per teacher, weighted (L1's optimum is then the weighted median: the heaviest teacher);
    # "blend": one loss on the teachers' weighted mean image (a target between them, e.g. sharp and stable)
    teacher_mix: str = "losses"
    preset_weights: dict[str, float] = field(default_factory=dict)  # sampling weight per degradation preset
    pixel_weight: float = 0.1
    pixel_colour_fix: str = "none"  # "wavelet": pixel terms see the output after the engine's wavelet colour fix
    perceptual_weight: float = 1.0
    contrast_weight: float = 0.0  # local-contrast term (losses.local_contrast_loss) in the pixel term; not the paper's
    feature_weight: float = 1.0
    ae_weight: float = 1.0
    adv_pixel_weight: float = 1.0  # inside L_pixel, so scaled by pixel_weight as in the paper
    adv_feature_weight: float = 1.0
    detail_channels: int = 192
    # stage 2's discriminator: "paper" (pixel and feature domains, backbones trained from scratch: `Discriminators`),
    # "x4plus" (pixel domain, heads on Real-ESRGAN x4plus's frozen first convolutions: `BackboneDiscriminator`),
    # "scratch" (the same heads and taps on a backbone trained from scratch, for comparison)
    disc_backbone: str = "paper"
    disc_depths: list[int] = field(default_factory=lambda: [6, 16])  # backbone convolutions tapped (x4plus/scratch)
    disc_width: int = 64  # channels of the heads (x4plus/scratch); detail gets 75 %
    disc_crop: int = 64  # HR crop side the backbone discriminator sees (0: the whole batch crop)
    disc_spectral: bool = True  # spectral norm on the heads' trunk convolutions (not on the 1x1 projections)
    adv_heads: str = "both"  # "detail": the detail head alone (the single-head ablation; x4plus/scratch)
    detail_real: str = "images"  # "video"/"video-only"/"teacher": what is real for the detail head (sample_labels)
    detail_teacher: str = "x4plus-stable"  # with detail_real "teacher": the teacher whose output is that real sample
    adv_start: int = 0  # steps in which the discriminator trains alone before the student sees its term
    lowband_weight: float = 0.0  # fidelity anchor: output's low band vs the LR input's (losses.lowband_loss)
    grid_weight: float = 0.0  # sub-pixel phase means of the output vs the HR frames' (losses.grid_loss)
    temporal_weight: float = 0.0  # flicker: frame-to-frame luma changes of the output vs the HR's (temporal_loss)
    invariance_weight: float = 0.0  # draw term: outputs for two LR draws (lr_alt) share fine detail (invariance_loss)
    noise_lr: float = 0.0  # learning rate of a noise input's weights (compact-noise); 0: the student's lr
    noise_init: float = 0.0  # std of a noise input's starting weights (at 0, a saddle: their gradient's mean is 0)
    init_disc: str = ""  # another run's state.pt whose discriminator (and its optimiser) this run starts from
    contrast_target: str = "teacher"  # what the local-contrast term compares with: "teacher" (the target) or "hr"
    disc_grain: float = 0.0  # stage 2: the student's output plus grain of up to this many 8-bit levels, fake for the
    # detail head (sample type "grainy_student"; 0: off)
    # decay of an exponential moving average of the student's weights, updated after each step and exported in
    # place of the live weights (0: off); 0.99 averages over about the last 100 steps
    ema: float = 0.0
    seed: int = 0
    deterministic: bool = False
    log_every: int = 10
    checkpoint_every_s: float = 180.0
    init: str | None = None  # a state.pt to take the student and encoder from (stage 2 starts from stage 1), or an
    # exported .safetensors to take the student from (the encoder then starts fresh)
    threads: int = 0  # torch intra-op threads (0: leave as is)
    device: str = ""  # "" picks the GPU where there is one, else the CPU; "cpu" forces the CPU
    channels_last: bool = True  # weights (and so activations) in channels_last memory format; False: contiguous

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def parse_weights(text: str) -> dict[str, float]:
    """"gt=0.8,animevideov3=0.2" → {"gt": 0.8, "animevideov3": 0.2}; a name alone weighs 1."""
    out = {}
    for part in text.split(","):
        name, _, w = part.partition("=")
        out[name.strip()] = float(w) if w else 1.0
    return out
