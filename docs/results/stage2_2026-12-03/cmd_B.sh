#!/bin/sh
# Stage 2 from the shipped stage-1 default, x4plus-backbone discriminator (resumable: re-run this file).
# Data and runs live outside the repository (/work/scratch/stage2); see MODEL_CARD.md "Stage 2 attempts, 2026-12-03".
cd "$(dirname "$0")/../../.." && export PYTHONPATH="$PWD" OMP_NUM_THREADS=1   # the repository root
exec nice -n 5 .venv/bin/python scripts/train_phases.py --data /work/scratch/stage2/data/train.npz \
  --run-dir /work/scratch/stage2/runs/B --init vsadcvsr/weights/compact.safetensors --model compact --stage 2 \
  --batch 2 --crop 48 --frames 3 --phases 2e-5:900 2e-5:900 2e-5:900 2e-5:900 1e-5:900 1e-5:900 \
  --teachers animevideov3=0.65,gt=0.35 --teacher-mix blend --preset-weights mild=0.9,standard=0.1 \
  --feature-weight 0 --ae-weight 0 --contrast-weight 0 --grid-weight 10 --lowband-weight 1 \
  --disc-backbone x4plus --disc-depths 6,16 --disc-crop 64 --adv-pixel-weight 0.2 --adv-start 60 --d-lr 2e-4 \
  --threads 1 --log-every 5 --checkpoint-every-s 120 --export /work/scratch/stage2/runs/B/compact
