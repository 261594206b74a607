#!/bin/sh
# Run G (2026-12-04): run F with the local-contrast term at 100 (F: 300, which brought the 4-px pattern back
# within 280 steps: grid 45 -> 70 on the selection frames) - run E's contrast and low band, with the x4plus teacher
# in the blend (E: the ground truth) and the grid term at 20 (E: 10).
# Data: /work/scratch/stage2/data/train.npz with x4plus added (MODEL_CARD.md "Stage 2 attempts" has the commands).
cd "$(dirname "$0")/../../.." && export PYTHONPATH="$PWD" OMP_NUM_THREADS=1   # the repository root
exec nice -n 5 .venv/bin/python scripts/train_phases.py --data /work/scratch/stage2/data/train.npz \
  --run-dir /work/scratch/stage2/runs/G --init vsadcvsr/weights/compact.safetensors --model compact --stage 2 \
  --batch 2 --crop 48 --frames 3 --phases 2e-5:600 2e-5:600 2e-5:600 1e-5:600 1e-5:600 1e-5:600 \
  --teachers animevideov3=0.65,x4plus=0.35 --teacher-mix blend --preset-weights mild=0.9,standard=0.1 \
  --feature-weight 0 --ae-weight 0 --contrast-weight 100 --grid-weight 20 --lowband-weight 2 \
  --disc-backbone x4plus --disc-depths 6 --disc-crop 48 --adv-pixel-weight 0.4 --adv-start 25 --d-lr 2e-4 \
  --threads 1 --log-every 5 --checkpoint-every-s 120 --export /work/scratch/stage2/runs/G/compact
