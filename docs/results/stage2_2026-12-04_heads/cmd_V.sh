#!/bin/sh
# Runs V and W (2026-12-04, eighth session): run T's recipe (../stage2_2026-12-04/cmd_R.sh: H's recipe, adversarial
# term 1.6, real video the detail head's only real sample, x4plus depths 6 and 16, 64 px crops) with the heads'
# statistics standardised on 64 real clips, their own learning rate and 4 discriminator updates per student step
# (probe_heads.py), and the grid term at 100 (T's 20 let the 4-px screen door through); 300 steps from the shipped
# stage-1 weights, the two runs side by side on the same 2 cores:
#   sh cmd_V.sh V                          # V: the adversary on
#   sh cmd_V.sh W --adv-pixel-weight 0     # W: its control (the heads train, the student never sees them)
# Data as in ../stage2_2026-12-04/cmd_R.sh (seed 0: 120 clips, animevideov3 and x4plus teachers).
RUN=${1:-V}; [ $# -gt 0 ] && shift
cd "$(dirname "$0")/../../.." && export PYTHONPATH="$PWD" OMP_NUM_THREADS=1   # the repository root
exec nice -n 5 .venv/bin/python scripts/train_phases.py --data /work/scratch/stage2/data/train.npz \
  --run-dir /work/scratch/stage2/runs/$RUN --init vsadcvsr/weights/compact.safetensors --model compact --stage 2 \
  --batch 2 --crop 48 --frames 3 \
  --phases 2e-5:3600:100 2e-5:3600:100 2e-5:3600:100 \
  --teachers animevideov3=0.65,x4plus=0.35 --teacher-mix blend --preset-weights mild=0.9,standard=0.1 \
  --feature-weight 0 --ae-weight 0 --contrast-weight 300 --grid-weight 100 --lowband-weight 2 \
  --disc-backbone x4plus --disc-depths 6,16 --disc-crop 64 --detail-real video-only \
  --disc-calibrate 64 --d-stats-lr 1e-2 --d-steps 4 \
  --adv-pixel-weight 1.6 --adv-start 25 --d-lr 2e-4 \
  --ema 0.99 --threads 1 --log-every 5 --checkpoint-every-s 120 --export /work/scratch/stage2/runs/$RUN/compact "$@"
