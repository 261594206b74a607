"""Two-stage training of an AdcVSR student: stage 1 regression, stage 2 adds dual-domain dual-head adversaries.

One optimiser step per `step`; batches are drawn from an RNG seeded by (seed, stage, step, rank), so a resumed run
draws exactly the batches an uninterrupted one would. Distributed training: launch with `torchrun`; each process
takes `batch` clips and DDP averages the gradients (gloo on the CPU, nccl on GPUs).
"""
from __future__ import annotations

import json
import logging
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors import safe_open
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ..engine.colour_fix import wavelet_fix
from ..engine.heap import keep_freed_memory
from ..files import atomic_write
from ..flow import carry_noise
from ..model import CompactVSR, ModelConfig, Student, build_model, get_config
from .config import TrainConfig
from .data import Material, load_material, shuffle_frames, static_clip, unrelated_crops
from .dataset import ClipDataset
from .discriminators import BackboneDiscriminator, Discriminators, split_logits
from .encoder import FeatureEncoder
from .export import base_of, encoder_path, export_encoder, export_student
from .losses import (
    DETAIL_REAL,
    balanced_discriminator_loss,
    discriminator_loss,
    feature_l1,
    generator_adversarial,
    generator_adversarial_parts,
    grid_loss,
    invariance_loss,
    local_contrast_loss,
    lowband_loss,
    pixel_regression,
    sample_labels,
    temporal_loss,
)
from .state_file import load_state_file
from .teachers import KNOWN_TEACHERS

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"


class Generator(nn.Module):
    """The student and the feature encoder; one forward gives everything the generator loss needs."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.student = cast(Student, build_model(cfg))
        self.encoder = FeatureEncoder(cfg.latent_channels, stride=cfg.feature_stride)

    def encode(self, images: Tensor) -> Tensor:
        """(B, T, 3, H, W) → (B, T, C, H/s, W/s), s the student's feature stride."""
        b, t = images.shape[:2]
        f = self.encoder(images.reshape(b * t, *images.shape[2:]).contiguous(memory_format=torch.channels_last))
        return f.view(b, t, *f.shape[1:])

    def forward(self, lr: Tensor, targets: Tensor | None,
                noise: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """lr (B,T,3,h,w), targets (K,B,T,3,4h,4w) → x_s, f_s, f_t (K,B,T,C, feature grid), autoencoded targets.

        With `targets` None only the student runs (f_t and the reconstructions are None); `noise` is the noise input
        of a student that has one.
        """
        out = (self.student.forward_features(lr) if noise is None
               else cast(CompactVSR, self.student).forward_features(lr, noise=noise))
        if targets is None:
            return out.image, out.feature, None, None
        k, b, t = targets.shape[:3]
        f_t = self.encode(targets.reshape(k * b, t, *targets.shape[3:]))
        frames = lr.reshape(b * t, *lr.shape[2:]).repeat(k, 1, 1, 1)
        rec = self.student.render(f_t.reshape(k * b * t, *f_t.shape[2:]), frames)
        return (out.image, out.feature, f_t.view(k, b, t, *f_t.shape[2:]),
                rec.view(k, b, t, *rec.shape[1:]))


def _to_tensor(a: np.ndarray | Tensor) -> Tensor:
    """(..., H, W, 3) uint8 → (..., 3, H, W) float in [-1, 1], on the device it is on."""
    t = a if isinstance(a, Tensor) else torch.from_numpy(np.ascontiguousarray(a))
    return t.movedim(-1, -3).float().div(127.5).sub(1.0)


def _floats(terms: dict[str, Tensor]) -> dict[str, float]:
    """Detached scalar terms as floats, read back from the device in one transfer (one synchronisation)."""
    values = torch.stack([v.detach().float().reshape(()) for v in terms.values()]).tolist()
    return dict(zip(terms, values))


def _param_groups(module: nn.Module, lr: float, own: list[nn.Parameter], own_lr: float) -> list[dict[str, Any]]:
    """`module`'s parameters at `lr`, less `own`, which (where there are any) make a second group at `own_lr`."""
    ids = {id(p) for p in own}
    groups: list[dict[str, Any]] = [{"params": [p for p in module.parameters() if id(p) not in ids], "lr": lr}]
    if own:
        groups.append({"params": own, "lr": own_lr})
    return groups


class Trainer:
    """Owns the networks, optimisers, data and checkpoints of one stage of one run."""

    def __init__(self, cfg: TrainConfig, dataset: ClipDataset | None = None, material: Material | None = None) -> None:
        self.cfg = cfg
        if cfg.stage not in (1, 2):
            raise ValueError(f"Trainer: stage must be 1 or 2, got {cfg.stage}")
        if cfg.pixel_colour_fix not in ("none", "wavelet"):
            raise ValueError(f"Trainer: pixel_colour_fix must be none or wavelet, got {cfg.pixel_colour_fix!r}")
        if cfg.teacher_mix not in ("losses", "blend"):
            raise ValueError(f"Trainer: teacher_mix must be losses or blend, got {cfg.teacher_mix!r}")
        if cfg.disc_backbone not in ("paper", "x4plus", "scratch"):
            raise ValueError(f"Trainer: disc_backbone must be paper, x4plus or scratch, got {cfg.disc_backbone!r}")
        if not 0.0 <= cfg.ema < 1.0:
            raise ValueError(f"Trainer: ema must be a decay in [0, 1), got {cfg.ema}")
        if cfg.adv_heads not in ("both", "detail"):
            raise ValueError(f"Trainer: adv_heads must be both or detail, got {cfg.adv_heads!r}")
        if cfg.detail_real not in DETAIL_REAL:
            raise ValueError(f"Trainer: detail_real must be one of {', '.join(DETAIL_REAL)}, got {cfg.detail_real!r}")
        if cfg.contrast_target not in ("teacher", "hr"):
            raise ValueError(f"Trainer: contrast_target must be teacher or hr, got {cfg.contrast_target!r}")
        if cfg.d_steps < 1 or cfg.disc_calibrate < 0 or cfg.d_stats_lr < 0:
            raise ValueError(f"Trainer: d_steps must be at least 1 ({cfg.d_steps}), disc_calibrate and d_stats_lr at "
                             f"least 0 ({cfg.disc_calibrate}, {cfg.d_stats_lr})")
        if cfg.disc_degrid_window and (cfg.disc_degrid_window < 0 or not cfg.disc_degrid or not cfg.disc_crop
                                       or cfg.disc_crop // 4 % cfg.disc_degrid_window):
            raise ValueError(f"Trainer: disc_degrid_window ({cfg.disc_degrid_window}) needs disc_degrid and must "
                             f"divide the disc_crop's {cfg.disc_crop // 4} blocks")
        if cfg.disc_grain < 0:
            raise ValueError(f"Trainer: disc_grain must be at least 0, got {cfg.disc_grain}")
        if cfg.disc_place_hidden and (cfg.disc_place_hidden < 0 or not cfg.disc_local):
            raise ValueError(f"Trainer: disc_place_hidden ({cfg.disc_place_hidden}) must be at least 0 and needs "
                             "disc_local")
        self.labels = sample_labels(cfg.detail_real, cfg.disc_grain > 0)  # the discriminators' labels per sample type
        # the sample types the heads see, in a fixed order
        self.kinds: list[str] = [k for k in ("student", "real_video", "shuffled_video", "static_image",
                                             "unrelated_images", "teacher_video", "grainy_student") if k in self.labels]
        unknown = set(cfg.teachers) - set(KNOWN_TEACHERS)
        if unknown:
            raise ValueError(f"Trainer: unknown teachers {sorted(unknown)}")
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        if cfg.device:
            self.device = torch.device(cfg.device)
        else:
            self.device = torch.device(f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cpu":
            keep_freed_memory()  # activations and gradients reuse freed pages (engine/heap.py)
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.data = dataset if dataset is not None else ClipDataset.load(cfg.data)
        self.material = material
        if cfg.crop % 16 or cfg.crop > self.data.lr.shape[2] or cfg.frames > self.data.lr.shape[1]:
            raise ValueError("Trainer: crop must be a multiple of 16 within the stored clips, frames at most theirs")
        frames = cfg.frames or self.data.lr.shape[1]  # 0: the stored clips' frames (as `batch` reads them)
        if cfg.temporal_weight and frames < 2:
            raise ValueError(f"Trainer: temporal_weight needs clips of 2 frames or more, not {frames}")
        if cfg.invariance_weight and (self.data.lr_alt is None or cfg.feature_weight > 0 or cfg.ae_weight > 0):
            raise ValueError("Trainer: invariance_weight needs a set with a second LR draw (make_training_data.py "
                             "--add-second-draw) and no feature encoder (feature_weight, ae_weight 0)")
        if cfg.stage == 2 and self.material is None:
            self.material = load_material()
        self.usable = min(len(self.data.teachers[k]) for k, w in cfg.teachers.items() if w > 0)
        if cfg.stage == 2 and cfg.detail_real == "teacher":
            if cfg.detail_teacher not in self.data.teachers:
                raise ValueError(f"Trainer: detail_teacher {cfg.detail_teacher!r} is not in the training set "
                                 f"(it has {', '.join(sorted(self.data.teachers))})")
            self.usable = min(self.usable, len(self.data.teachers[cfg.detail_teacher]))
        self.sample_p: np.ndarray | None = None
        presets = self.data.meta.get("presets")
        if cfg.preset_weights and presets:
            p = np.asarray([cfg.preset_weights.get(x, 0.0) for x in presets[: self.usable]], np.float64)
            if p.sum() <= 0:
                raise ValueError("Trainer: preset_weights leave no clip to sample")
            self.sample_p = p / p.sum()
        self.model_cfg = get_config(cfg.model)
        #: HR noise fields per frame that a student with a noise input gets (`flow.carry_noise`); 0: none
        self.noise_layers = getattr(self.model_cfg, "noise_channels", 0) // 16
        # On a GPU the clips live in its memory (uint8) and batches are cut there: no host copies per step.
        self._resident: dict[int, Tensor] = {}
        if self.device.type == "cuda":
            arrays = [self.data.lr, self.data.hr, *self.data.teachers.values()]
            arrays += [self.data.lr_alt] if self.data.lr_alt is not None and cfg.invariance_weight else []
            for a in arrays:
                if id(a) not in self._resident:
                    self._resident[id(a)] = torch.from_numpy(a).to(self.device)

        # same initial weights on every rank: seed before building
        torch.manual_seed(cfg.seed)
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        # device and memory format in two calls: torch's stub of Module.to has no overload taking both
        self.gen = Generator(self.model_cfg).to(self.device).to(memory_format=fmt)
        self.opt_g = torch.optim.Adam(self._gen_groups(), lr=cfg.lr)
        self.disc: Discriminators | BackboneDiscriminator | None = None
        self.opt_d: torch.optim.Optimizer | None = None
        if cfg.stage == 2 and cfg.disc_backbone == "paper":
            self.disc = Discriminators(self.model_cfg.latent_channels, cfg.detail_channels).to(self.device).to(
                memory_format=fmt)
        elif cfg.stage == 2:
            self.disc = BackboneDiscriminator(cfg.disc_backbone, tuple(cfg.disc_depths), cfg.disc_width,
                                              spectral=cfg.disc_spectral, luma=cfg.disc_luma, flat=cfg.disc_flat,
                                              degrid=cfg.disc_degrid, local=cfg.disc_local,
                                              degrid_window=cfg.disc_degrid_window,
                                              place_hidden=cfg.disc_place_hidden)
            self.disc = self.disc.to(self.device).to(memory_format=fmt)
        if self.disc is not None:
            self.opt_d = torch.optim.Adam(self._disc_groups(self.disc), betas=(0.5, 0.999))
        self.step = 0
        self.seconds = 0.0  # training time accumulated over resumes
        self.base: dict[str, str] | None = None  # provenance and licence of imported initial weights
        if cfg.init:
            self._init_from(cfg.init)
        if cfg.init_disc:
            self._init_disc_from(cfg.init_disc)
        noise_in = getattr(self.gen.student, "noise_in", None)
        if cfg.noise_init and noise_in is not None:  # off the saddle at zero (state.pt replaces it on resume)
            with torch.no_grad():
                g = torch.Generator().manual_seed(cfg.seed)
                noise_in.weight.copy_(torch.randn(noise_in.weight.shape, generator=g) * cfg.noise_init)
        self.ema: dict[str, Tensor] | None = self._fresh_ema() if cfg.ema > 0 else None
        self._uses_encoder = cfg.feature_weight > 0 or cfg.ae_weight > 0
        self.gen_ddp: nn.Module = self.gen
        self.disc_ddp: nn.Module | None = self.disc
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # without feature and autoencoder terms the encoder takes no part in the step
            self.gen_ddp = DDP(self.gen, device_ids=ids, find_unused_parameters=not self._uses_encoder)
            if self.disc is not None:
                self.disc_ddp = DDP(self.disc, device_ids=ids)
        self._log_file = self.run_dir / "log.jsonl"

    def _gen_groups(self) -> list[dict[str, Any]]:
        """The generator's parameter groups: everything at `lr`, and where `noise_lr` is set a noise input's weights
        in a second group at that rate."""
        c = self.cfg
        noise = [p for n, p in self.gen.named_parameters() if n.startswith("student.noise_in.")] if c.noise_lr else []
        return _param_groups(self.gen, c.lr, noise, c.noise_lr)

    def _disc_groups(self, disc: nn.Module) -> list[dict[str, Any]]:
        """The discriminator's parameter groups: everything at `d_lr`, and where `d_stats_lr` is set the heads'
        statistics layers in a second group at that rate."""
        c = self.cfg
        stats = [p for h in getattr(disc, "heads", []) for p in h.statistics_parameters()] if c.d_stats_lr else []
        return _param_groups(disc, c.d_lr, stats, c.d_stats_lr)

    def calibrate_discriminator(self) -> bool:
        """Standardises the backbone discriminator's statistics paths on `disc_calibrate` real clips (disc crops of
        batches the run never trains on), once per run: False where there is nothing to do."""
        c = self.cfg
        if not isinstance(self.disc, BackboneDiscriminator) or not c.disc_calibrate or bool(self.disc.calibrated):
            return False
        clips: list[Tensor] = []
        i = 0
        while sum(x.shape[0] for x in clips) < c.disc_calibrate:
            clips.append(self._disc_crops(self.batch(10**9 + i)["hr"], 100 + i))
            i += 1
        self.disc.calibrate(torch.cat(clips)[:c.disc_calibrate])
        log.info("stage 2: the discriminator's statistics standardised on %d real clips", c.disc_calibrate)
        return True

    # ----------------------------------------------------------------------------------------- state

    def _init_from(self, path: str) -> None:
        """Student and encoder from a training state; or the student from a .safetensors checkpoint (e.g. the
        shipped weights) and the encoder from its sidecar (`encoder_path`), fresh where there is none."""
        exported = path.endswith(".safetensors")
        st: dict[str, Any]
        if exported:
            with safe_open(path, framework="pt", device=str(self.device)) as f:
                meta = f.metadata() or {}
                st = {"gen": {f"student.{k}": f.get_tensor(k) for k in f.keys()},
                      "stage": meta.get("stage"), "step": meta.get("steps")}
        else:
            st = load_state_file(path, self.device)
        gen = {k: v.float() if v.is_floating_point() else v for k, v in st["gen"].items()}
        self.base = st.get("base") if not exported else base_of(path, meta)
        own = self.gen.state_dict()
        dropped = sorted(k for k in gen if k not in own and ".temporal" in k)
        if dropped:  # a 2D ablation started from a temporal model: its temporal blocks are left out
            log.info("init: %d temporal tensors of %s not used by %s", len(dropped), path, self.cfg.model)
            gen = {k: v for k, v in gen.items() if k not in dropped}
        if "student.noise_in.weight" in own and "student.noise_in.weight" not in gen:  # a noise input, added: zero
            gen["student.noise_in.weight"] = own["student.noise_in.weight"]
            log.info("init: %s has no noise input; %s's starts at zero", path, self.cfg.model)
        what = "student and encoder"
        if exported:
            side = encoder_path(path)
            if side.is_file():
                with safe_open(str(side), framework="pt", device=str(self.device)) as f:
                    gen.update({f"encoder.{k}": f.get_tensor(k).float() for k in f.keys()})
                what = f"student (encoder from {side})"
            else:
                gen.update({k: v for k, v in own.items() if k.startswith("encoder.")})
                what = "student (fresh encoder)"
        self.gen.load_state_dict(gen)
        log.info("init: %s from %s (stage %s, step %s)", what, path, st.get("stage"), st.get("step"))

    def _init_disc_from(self, path: str) -> None:
        """The discriminator and its optimiser from another run's training state (strict: the same options)."""
        if self.disc is None or self.opt_d is None:
            raise ValueError("Trainer: init_disc needs stage 2")
        st = load_state_file(path, self.device)
        if "disc" not in st:
            raise ValueError(f"Trainer: init_disc: {path} has no discriminator (a stage-1 state?)")
        try:
            self.disc.load_state_dict(st["disc"])
            self.opt_d.load_state_dict(st["opt_d"])
        except (RuntimeError, ValueError) as e:
            raise ValueError(f"Trainer: init_disc: {path}'s discriminator does not fit this run's options "
                             f"({str(e).splitlines()[0]})") from None
        log.info("init: discriminator from %s (step %s)", path, st.get("step"))

    def _fresh_ema(self) -> dict[str, Tensor]:
        """The moving average's start: a copy of the student's weights now."""
        return {k: v.detach().clone() for k, v in self.gen.student.state_dict().items()}

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        d = self.cfg.ema
        for k, v in self.gen.student.state_dict().items():
            if v.is_floating_point():
                self.ema[k].mul_(d).add_(v.detach(), alpha=1.0 - d)
            else:
                self.ema[k].copy_(v)

    def exported_student(self) -> dict[str, Tensor]:
        """The student's weights as exported: the moving average where `ema` is on, else the live weights."""
        return dict(self.ema) if self.ema is not None else dict(self.gen.student.state_dict())

    def state(self) -> dict[str, Any]:
        """Everything a resume needs: weights, optimisers, step, RNG states, config."""
        st: dict[str, Any] = {
            "config": self.cfg.to_json(),
            "stage": self.cfg.stage,
            "step": self.step,
            "seconds": self.seconds,
            "base": self.base,
            "gen": self.gen.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        }
        if self.ema is not None:
            st["ema"] = self.ema
        if self.disc is not None and self.opt_d is not None:
            st["disc"] = self.disc.state_dict()
            st["opt_d"] = self.opt_d.state_dict()
        return st

    def save_state(self, path: Path | None = None) -> Path:
        """Writes the training state atomically (temporary file, then rename); rank 0 only."""
        path = path or self.run_dir / STATE_FILE
        if self.rank == 0:
            with atomic_write(path) as tmp:
                torch.save(self.state(), tmp)
            log.info("checkpoint: %s (stage %d, step %d)", path, self.cfg.stage, self.step)
        return path

    def load_state(self, path: Path | None = None) -> bool:
        """Resumes from `path` (default: the run's state.pt) if it exists and is of this stage."""
        path = path or self.run_dir / STATE_FILE
        if not path.is_file():
            return False
        st = load_state_file(path, self.device)
        if st["stage"] != self.cfg.stage:
            log.info("resume: %s is stage %d, this run is stage %d: not resumed", path, st["stage"], self.cfg.stage)
            return False
        self.gen.load_state_dict(st["gen"])
        self.opt_g.load_state_dict(st["opt_g"])
        if self.ema is not None:  # a state without one (ema newly turned on) starts the average here
            self.ema = {k: v.to(self.device) for k, v in st["ema"].items()} if "ema" in st else self._fresh_ema()
        if self.disc is not None and self.opt_d is not None:
            self.disc.load_state_dict(st["disc"])
            self.opt_d.load_state_dict(st["opt_d"])
        self.step = int(st["step"])
        self.seconds = float(st.get("seconds", 0.0))
        self.base = st.get("base", self.base)
        torch.set_rng_state(st["rng"]["torch"].cpu())  # map_location moved it to the training device
        np.random.set_state(st["rng"]["numpy"])
        random.setstate(st["rng"]["python"])
        log.info("resume: %s at stage %d step %d", path, self.cfg.stage, self.step)
        return True

    # ----------------------------------------------------------------------------------------- data

    def _rng(self, step: int) -> np.random.Generator:
        return np.random.default_rng([self.cfg.seed, self.cfg.stage, step, self.rank])

    def batch(self, step: int) -> dict[str, Tensor]:
        """This rank's batch for `step`: lr (B,T,3,h,w), targets (K,B,T,3,H,W) (K = 1 when blending), hr, the
        second LR draw lr_alt where the draw term is on, the noise input (B,T,16L,h,w) of a student that has one,
        and stage 2's real samples."""
        rng = self._rng(step)
        idx = np.sort(rng.choice(self.usable, size=self.cfg.batch, replace=False, p=self.sample_p))
        names = [k for k, w in self.cfg.teachers.items() if w > 0]
        n_t, lr_size = self.data.lr.shape[1], self.data.lr.shape[2]
        t = self.cfg.frames or n_t
        c = self.cfg.crop or lr_size
        t0 = int(rng.integers(0, n_t - t + 1))
        y, x = (int(v) for v in rng.integers(0, lr_size - c + 1, size=2))
        lr_win = (idx, slice(t0, t0 + t), slice(y, y + c), slice(x, x + c))
        hr_win = (idx, slice(t0, t0 + t), slice(4 * y, 4 * (y + c)), slice(4 * x, 4 * (x + c)))
        out = {
            "lr": self._cut(self.data.lr, lr_win),
            "hr": self._cut(self.data.hr, hr_win),
            "targets": torch.stack([self._cut(self.data.teachers[k], hr_win) for k in names]),
        }
        if self.cfg.invariance_weight:
            assert self.data.lr_alt is not None
            out["lr_alt"] = self._cut(self.data.lr_alt, lr_win)
        if self.noise_layers:  # a field that moves with the HR clip's content, unshuffled to the LR grid
            fields = np.stack([carry_noise(clip, rng, self.noise_layers) for clip in self.data.hr[hr_win]])
            out["noise"] = F.pixel_unshuffle(torch.from_numpy(fields).flatten(0, 1), 4).unflatten(0, fields.shape[:2])
        if self.cfg.teacher_mix == "blend":
            w = out["targets"].new_tensor([self.cfg.teachers[k] for k in names])
            out["targets"] = torch.tensordot(w / w.sum(), out["targets"], dims=1).unsqueeze(0)
        if self.cfg.stage == 2:
            assert self.material is not None
            hr = self.data.hr[hr_win]
            t, size = hr.shape[1], hr.shape[2]
            out["shuffled_video"] = _to_tensor(np.stack([shuffle_frames(c, rng) for c in hr]))
            out["static_image"] = _to_tensor(np.stack([static_clip(self.material, t, size, rng) for _ in idx]))
            out["unrelated_images"] = _to_tensor(np.stack([unrelated_crops(self.material, t, size, rng)
                                                           for _ in idx]))
            if "teacher_video" in self.labels:
                out["teacher_video"] = self._cut(self.data.teachers[self.cfg.detail_teacher], hr_win)
        return {k: v.to(self.device) for k, v in out.items()}

    def _cut(self, a: np.ndarray, win: tuple) -> Tensor:
        """`a[win]` as a float tensor in [-1, 1], (..., 3, H, W); cut on the GPU where `a` is resident there."""
        dev = self._resident.get(id(a))
        if dev is None:
            return _to_tensor(a[win])
        idx, *rest = win
        return _to_tensor(dev[(torch.as_tensor(idx, device=self.device), *rest)])  # gathers only the crops

    # ----------------------------------------------------------------------------------------- steps

    def lr_scale(self, step: int) -> float:
        """Paper schedule scaled to this stage's length: halved once after `lr_halve_at` of the steps."""
        return 0.5 if step >= self.cfg.lr_halve_at * self.cfg.steps else 1.0

    def generator_losses(self, b: dict[str, Tensor]) -> tuple[Tensor, dict[str, float], Tensor, Tensor]:
        """Total generator loss, its named terms, and the detached student image and feature."""
        c = self.cfg
        x_alt: Tensor | None = None
        noise = b.get("noise")
        if c.invariance_weight:  # both draws in one pass (no encoder: checked at construction), the same noise
            x_s, f_s, f_t, rec = self.gen_ddp(torch.cat([b["lr"], b["lr_alt"]]), None,
                                              None if noise is None else torch.cat([noise, noise]))
            x_s, x_alt = x_s.chunk(2)
            f_s = f_s.chunk(2)[0]
        else:
            x_s, f_s, f_t, rec = self.gen_ddp(b["lr"], b["targets"] if self._uses_encoder else None, noise)
        weights = {"blend": 1.0} if c.teacher_mix == "blend" else {k: w for k, w in c.teachers.items() if w > 0}
        names = list(weights)
        terms: dict[str, Tensor] = {}
        total = x_s.new_zeros(())
        x_px = x_s
        if c.pixel_colour_fix == "wavelet":  # train the details the engine keeps; low frequencies come from the input
            x_px = wavelet_fix(x_s.flatten(0, 1), b["lr"].flatten(0, 1)).view_as(x_s)
        teacher_contrast = c.contrast_weight if c.contrast_target == "teacher" else 0.0
        for i, k in enumerate(names):
            w = weights[k]
            px = pixel_regression(x_px, b["targets"][i], c.perceptual_weight, teacher_contrast)
            for n, v in px.items():
                terms[f"{n}_{k}"] = v
            total = total + w * c.pixel_weight * sum(px.values())
            if f_t is not None and rec is not None:
                fl = feature_l1(f_s, f_t[i])
                ae = (rec[i] - b["targets"][i]).abs().mean()
                terms[f"feature_{k}"] = fl
                terms[f"ae_{k}"] = ae
                total = total + w * (c.feature_weight * fl + c.ae_weight * ae)
        if c.contrast_weight and c.contrast_target == "hr":  # the real video's local energy, not its phase
            terms["contrast_hr"] = c.contrast_weight * local_contrast_loss(x_px, b["hr"])
            total = total + c.pixel_weight * terms["contrast_hr"]
        if c.lowband_weight:
            terms["lowband"] = lowband_loss(x_s, b["lr"])
            total = total + c.lowband_weight * terms["lowband"]
        if c.grid_weight:
            terms["grid"] = grid_loss(x_s, b["hr"])
            total = total + c.grid_weight * terms["grid"]
        if c.temporal_weight:
            terms["temporal"] = temporal_loss(x_s, b["hr"])
            total = total + c.temporal_weight * terms["temporal"]
        if x_alt is not None:
            terms["invariance"] = invariance_loss(x_s, x_alt)
            total = total + c.invariance_weight * terms["invariance"]
        if isinstance(self.disc, BackboneDiscriminator):
            if self.step >= c.adv_start and c.adv_pixel_weight:
                d = self.disc
                d.requires_grad_(False)  # the generator step must not touch the discriminator
                adv = generator_adversarial_parts(d(self._disc_crops(x_s, 0)), self._adv_heads())
                d.requires_grad_(True)
                terms["adv_pixel"] = adv
                total = total + c.pixel_weight * c.adv_pixel_weight * adv
        elif self.disc is not None:
            ds = self.disc
            ds.requires_grad_(False)  # the generator step must not touch the discriminators
            adv_p = generator_adversarial(ds.pixel(x_s))
            adv_f = generator_adversarial(ds.feature(f_s))
            ds.requires_grad_(True)
            terms["adv_pixel"], terms["adv_feature"] = adv_p, adv_f
            total = (total + c.pixel_weight * c.adv_pixel_weight * adv_p
                     + c.feature_weight * c.adv_feature_weight * adv_f)
        terms["total"] = total
        return total, _floats(terms), x_s.detach(), f_s.detach()

    def _adv_heads(self) -> tuple[str, ...]:
        return ("detail",) if self.cfg.adv_heads == "detail" else ("detail", "consistency")

    def _disc_crops(self, x: Tensor, salt: int) -> Tensor:
        """A `disc_crop` square of each clip (B, T, 3, H, W), at one place for all its frames; the places are drawn
        from (seed, step, rank, salt), so a resumed run crops as an uninterrupted one would."""
        size = self.cfg.disc_crop
        h, w = x.shape[-2:]
        if not size or size >= min(h, w):
            return x
        rng = np.random.default_rng((self.cfg.seed, 7, self.step, self.rank, salt))
        out = []
        for i in range(x.shape[0]):
            y0, x0 = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            out.append(x[i, ..., y0:y0 + size, x0:x0 + size])
        return torch.stack(out)

    def _grainy(self, x: Tensor, salt: int, sigma: float | None = None) -> Tensor:
        """`x` (B, T, 3, H, W) plus luma grain, one field per clip on all its frames: std drawn per clip between half
        and all of `sigma` 8-bit levels (default `disc_grain`), white for even clips, 3x3-binomial blurred (same
        std) for odd ones; drawn from (seed, step, salt), so a resumed run draws the same."""
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self.step * 1009 + salt)
        n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        field = torch.randn(n, 1, h, w, generator=gen)
        k = torch.tensor([1.0, 2.0, 1.0])
        blurred = F.conv2d(F.pad(field, (1, 1, 1, 1), mode="reflect"), (torch.outer(k, k) / 16)[None, None]) / 0.375
        field = torch.where((torch.arange(n) % 2 == 1).view(n, 1, 1, 1), blurred, field)
        sigma = self.cfg.disc_grain if sigma is None else sigma
        std = sigma * 2 / 255 * (0.5 + 0.5 * torch.rand(n, 1, 1, 1, generator=gen))
        return x + (field * std).unsqueeze(1).to(x.device, x.dtype)

    def discriminator_losses(self, b: dict[str, Tensor], x_s: Tensor, f_s: Tensor,
                             salt: int = 0) -> tuple[Tensor, dict[str, float]]:
        """The five-sample-type loss of both discriminators, summed (the paper's); or of the backbone
        discriminator, balanced per label, with its accuracy per sample type and head (its crops placed by
        `salt` too, so that repeated updates on one batch see new places)."""
        assert self.disc_ddp is not None
        kinds = self.kinds
        images = {"student": x_s, "real_video": b["hr"], **{k: b[k] for k in kinds[2:] if k in b}}
        if "grainy_student" in kinds:
            images["grainy_student"] = self._grainy(x_s, salt)
        if isinstance(self.disc, BackboneDiscriminator):
            crops = [self._disc_crops(images[k], 1 + i + salt) for i, k in enumerate(kinds)]
            sizes = [x.shape[0] for x in crops]
            detail, consistency = self.disc_ddp(torch.cat(crops).contiguous())
            logits = {k: ([d.split(sizes)[j] for d in detail], [c.split(sizes)[j] for c in consistency])
                      for j, k in enumerate(kinds)}
            t = balanced_discriminator_loss(logits, self._adv_heads(), self.labels)
            terms = {f"d_{k}": v for k, v in t.items() if k != "total"}
            terms["d_total"] = t["total"]
            return t["total"], _floats(terms)
        with torch.no_grad():
            real = torch.cat([images[k] for k in kinds[1:]])
            feats = torch.cat([f_s, self.gen.encode(real)])
        imgs = torch.cat([images[k] for k in kinds])
        sizes = [images[k].shape[0] for k in kinds]
        lp, lf = self.disc_ddp(imgs.contiguous(), feats.contiguous())
        tp = discriminator_loss(split_logits(lp, sizes, kinds), self.labels)
        tf = discriminator_loss(split_logits(lf, sizes, kinds), self.labels)
        total = tp["total"] + tf["total"]
        terms = {f"d_pixel_{k}": v for k, v in tp.items()}
        terms.update({f"d_feature_{k}": v for k, v in tf.items()})
        terms["d_total"] = total
        return total, _floats(terms)

    def train_step(self) -> dict[str, float]:
        """One optimiser step of the generator (and of the discriminators in stage 2) on this step's batch."""
        scale = self.lr_scale(self.step)
        for g, base in zip(self.opt_g.param_groups, (self.cfg.lr, self.cfg.noise_lr)):
            g["lr"] = base * scale
        b = self.batch(self.step)
        self.gen.train()
        loss, terms, x_s, f_s = self.generator_losses(b)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.gen.parameters(), self.cfg.grad_clip or float("inf"))
        terms["grad_norm"] = float(norm)
        self.opt_g.step()
        self._update_ema()
        if self.disc is not None and self.opt_d is not None:
            for g, base in zip(self.opt_d.param_groups, (self.cfg.d_lr, self.cfg.d_stats_lr)):
                g["lr"] = base * scale
            for k in range(self.cfg.d_steps):
                d_loss, d_terms = self.discriminator_losses(b, x_s, f_s, 8 * k)
                self.opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                self.opt_d.step()
            terms.update(d_terms)  # the last update's
        terms["lr"] = self.cfg.lr * scale
        self.step += 1
        return terms

    # ----------------------------------------------------------------------------------------- loop

    def _log(self, terms: dict[str, float], steps_per_s: float) -> None:
        rec = {"stage": self.cfg.stage, "step": self.step, "seconds": round(self.seconds, 1),
               "steps_per_s": round(steps_per_s, 3), **{k: round(v, 6) for k, v in terms.items()}}
        log.info("stage %d step %d %s", self.cfg.stage, self.step,
                 " ".join(f"{k}={v:.4g}" for k, v in terms.items()))
        if self.rank == 0:
            with open(self._log_file, "a") as f:
                f.write(json.dumps(rec) + "\n")

    def fit(self, max_seconds: float | None = None, until: int | None = None) -> str:
        """Trains until `steps` (resuming the run's state.pt if present), checkpointing every few minutes.

        `max_seconds` and `until` (a step) stop earlier, as an interruption would, after writing the state;
        so does SIGTERM (after the current step). Returns why it stopped: "steps", "time" or "signal".
        """
        reason = "steps"
        self.load_state()
        self.calibrate_discriminator()
        stop = threading.Event()
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        last_ckpt = time.monotonic()
        t_log, s_log = time.monotonic(), self.step
        start = time.monotonic()
        sums: dict[str, float] = {}
        n = 0
        last = self.cfg.steps if until is None else min(until, self.cfg.steps)
        while self.step < last:
            t0 = time.monotonic()
            terms = self.train_step()
            self.seconds += time.monotonic() - t0
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
            if self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps:
                now = time.monotonic()
                self._log({k: v / n for k, v in sums.items()}, (self.step - s_log) / max(now - t_log, 1e-9))
                sums, n, t_log, s_log = {}, 0, now, self.step
            if time.monotonic() - last_ckpt >= self.cfg.checkpoint_every_s:
                self.save_state()
                last_ckpt = time.monotonic()
            if max_seconds is not None and time.monotonic() - start >= max_seconds:
                log.info("fit: time budget of %.0f s reached at step %d", max_seconds, self.step)
                reason = "time"
                break
            if stop.is_set():
                log.info("fit: SIGTERM at step %d", self.step)
                reason = "signal"
                break
        self.save_state()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        return reason

    def export(self, path: str | Path, extra: dict[str, str] | None = None, dtype: torch.dtype | None = None) -> None:
        """Writes the student (its moving average where `ema` is on) as a vsadcvsr checkpoint (safetensors +
        metadata, tensors in `dtype`) and the feature encoder beside it (`encoder_path`); rank 0 only."""
        if self.rank != 0:
            return
        gen = self.gen  # the Generator itself: DDP wraps it as gen_ddp
        export_student(path, self.exported_student(), self.model_cfg, self.cfg, self.step, self.data.meta, extra,
                       dtype, self.base)
        export_encoder(path, dict(gen.encoder.state_dict()), dtype)
