#!/bin/sh
# Run D: run C's recipe from the shipped stage-1 default with the detail head's generator term at 1.0 (C: 0.2),
# adversarial from step 25, a phase export every 600 s (resumable: re-run this file).
# Data: /work/scratch/stage2/data/train.npz (MODEL_CARD.md "Stage 2 attempts, 2026-12-03" has the command).
cd "$(dirname "$0")/../../.." && export PYTHONPATH="$PWD" OMP_NUM_THREADS=1   # the repository root
exec nice -n 5 .venv/bin/python scripts/train_phases.py --data /work/scratch/stage2/data/train.npz \
  --run-dir /work/scratch/stage2/runs/D --init vsadcvsr/weights/compact.safetensors --model compact --stage 2 \
  --batch 2 --crop 48 --frames 3 --phases 2e-5:600 2e-5:600 2e-5:600 2e-5:600 1e-5:600 1e-5:600 1e-5:600 1e-5:600 \
  --teachers animevideov3=0.65,gt=0.35 --teacher-mix blend --preset-weights mild=0.9,standard=0.1 \
  --feature-weight 0 --ae-weight 0 --contrast-weight 0 --grid-weight 10 --lowband-weight 1 \
  --disc-backbone x4plus --disc-depths 6 --disc-crop 48 --adv-pixel-weight 1.0 --adv-start 25 --d-lr 2e-4 \
  --threads 1 --log-every 5 --checkpoint-every-s 120 --export /work/scratch/stage2/runs/D/compact
