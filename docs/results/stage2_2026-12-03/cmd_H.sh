#!/bin/sh
# Run H (2026-12-04, fifth session): run F's recipe (x4plus in the blend, contrast 300, grid 20, detail term 0.4)
# with a moving average of the student's weights (--ema 0.99, about the last 100 steps) exported in place of the
# live weights, and phases that end after 100 steps each, so that the ablations below stop at the same steps:
#   sh cmd_H.sh                                  # H: dual-head (detail + consistency), frozen x4plus backbone
#   sh cmd_H.sh I --adv-heads detail             # I: the detail head alone
#   sh cmd_H.sh J --disc-backbone scratch        # J: both heads on a backbone trained from scratch
#   sh cmd_H.sh K --adv-pixel-weight 0           # K: the control: the same losses and batches, no adversarial term
# Runs L-P (sixth session) resume H's state.pt of step 902 copied into runs/L ... runs/P, with 100-step phases at
# lr 1e-5 (--phases 1e-5:3600:100 ...) and --adv-pixel-weight 1.6 (L), --teachers animevideov3=0.5,x4plus=0.5 (M),
# and M's teachers with --temporal-weight 2 / 20 / 60 (N / O / P); MODEL_CARD.md has the exact lines.
# Data: /work/scratch/stage2/data/train.npz with x4plus added (MODEL_CARD.md "Stage 2 attempts" has the commands).
RUN=${1:-H}; [ $# -gt 0 ] && shift
cd "$(dirname "$0")/../../.." && export PYTHONPATH="$PWD" OMP_NUM_THREADS=1   # the repository root
exec nice -n 5 .venv/bin/python scripts/train_phases.py --data /work/scratch/stage2/data/train.npz \
  --run-dir /work/scratch/stage2/runs/$RUN --init vsadcvsr/weights/compact.safetensors --model compact --stage 2 \
  --batch 2 --crop 48 --frames 3 \
  --phases 2e-5:3600:100 2e-5:3600:100 2e-5:3600:100 1e-5:3600:100 1e-5:3600:100 1e-5:3600:100 \
  --teachers animevideov3=0.65,x4plus=0.35 --teacher-mix blend --preset-weights mild=0.9,standard=0.1 \
  --feature-weight 0 --ae-weight 0 --contrast-weight 300 --grid-weight 20 --lowband-weight 2 \
  --disc-backbone x4plus --disc-depths 6 --disc-crop 48 --adv-pixel-weight 0.4 --adv-start 25 --d-lr 2e-4 \
  --ema 0.99 --threads 1 --log-every 5 --checkpoint-every-s 120 --export /work/scratch/stage2/runs/$RUN/compact "$@"
