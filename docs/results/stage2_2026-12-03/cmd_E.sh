#!/bin/sh
# Run E: run D's recipe with the detail head's generator term at 0.4 (D: 1.0), the low-band anchor doubled (D drifted
# off it from step ~110), and the local-contrast term back at a third of stage 1's weight (100; C and D had it off
# and lost 8 BRISQUE points with the screen door) with the grid term at 10 against the 4-px pattern it brings.
# Data: /work/scratch/stage2/data/train.npz (MODEL_CARD.md "Stage 2 attempts, 2026-12-03" has the command).
cd "$(dirname "$0")/../../.." && export PYTHONPATH="$PWD" OMP_NUM_THREADS=1   # the repository root
exec nice -n 5 .venv/bin/python scripts/train_phases.py --data /work/scratch/stage2/data/train.npz \
  --run-dir /work/scratch/stage2/runs/E --init vsadcvsr/weights/compact.safetensors --model compact --stage 2 \
  --batch 2 --crop 48 --frames 3 --phases 2e-5:600 2e-5:600 2e-5:600 2e-5:600 1e-5:600 1e-5:600 1e-5:600 1e-5:600 \
  --teachers animevideov3=0.65,gt=0.35 --teacher-mix blend --preset-weights mild=0.9,standard=0.1 \
  --feature-weight 0 --ae-weight 0 --contrast-weight 100 --grid-weight 10 --lowband-weight 2 \
  --disc-backbone x4plus --disc-depths 6 --disc-crop 48 --adv-pixel-weight 0.4 --adv-start 25 --d-lr 2e-4 \
  --threads 1 --log-every 5 --checkpoint-every-s 120 --export /work/scratch/stage2/runs/E/compact
