#!/bin/sh
# Run F (2026-12-04): run E's recipe with the card's teacher blend back (animevideov3 0.65 + x4plus 0.35, as stage 1
# of the shipped default; C-E used the ground truth in x4plus's place) and stage 1's local-contrast weight (300),
# the grid term doubled (20) to hold down the 4-px pattern that contrast term brought in stage 1. The question: does
# the default's BRISQUE come back without its screen door when the sharp teacher is in the target?
# Data: /work/scratch/stage2/data/train.npz with x4plus added (MODEL_CARD.md "Stage 2 attempts" has the commands).
cd "$(dirname "$0")/../../.." && export PYTHONPATH="$PWD" OMP_NUM_THREADS=1   # the repository root
exec nice -n 5 .venv/bin/python scripts/train_phases.py --data /work/scratch/stage2/data/train.npz \
  --run-dir /work/scratch/stage2/runs/F --init vsadcvsr/weights/compact.safetensors --model compact --stage 2 \
  --batch 2 --crop 48 --frames 3 --phases 2e-5:600 2e-5:600 2e-5:600 1e-5:600 1e-5:600 1e-5:600 \
  --teachers animevideov3=0.65,x4plus=0.35 --teacher-mix blend --preset-weights mild=0.9,standard=0.1 \
  --feature-weight 0 --ae-weight 0 --contrast-weight 300 --grid-weight 20 --lowband-weight 2 \
  --disc-backbone x4plus --disc-depths 6 --disc-crop 48 --adv-pixel-weight 0.4 --adv-start 25 --d-lr 2e-4 \
  --threads 1 --log-every 5 --checkpoint-every-s 120 --export /work/scratch/stage2/runs/F/compact
