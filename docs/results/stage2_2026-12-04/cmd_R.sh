#!/bin/sh
# Runs R and S (2026-12-04, seventh session): run H's recipe (cmd_H.sh in ../stage2_2026-12-03) with the adversarial
# term at 1.6 (run L's weight) for 300 steps from the shipped stage-1 weights, run side by side on the same 2 cores:
#   sh cmd_R.sh R                          # R: the paper's labels (the detail head's real samples: the still photos)
#   sh cmd_R.sh S --detail-real video      # S: real video is real for the detail head too (same content as the
#                                          #    student's output; the consistency labels are the paper's)
#   sh cmd_R.sh T --detail-real video-only --disc-depths 6,16 --disc-crop 64
#                                          # T: real video is the detail head's only real sample (the photos train
#                                          #    the consistency head only), on two depths and a 64 px crop
#   sh cmd_R.sh U --detail-real video-only --disc-depths 6,16 --disc-crop 64 --adv-pixel-weight 0   # U: T's control
# Data: make_training_data.py /work/scratch/stage2/data/train.npz --clips 120 --teacher animevideov3=120 --workers 2
#       (25 s), then --add-teacher x4plus=120 --workers 2 (400 s); seed 0, as in the sixth session.
RUN=${1:-R}; [ $# -gt 0 ] && shift
cd "$(dirname "$0")/../../.." && export PYTHONPATH="$PWD" OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}   # the repository root
exec nice -n 5 .venv/bin/python scripts/train_phases.py --data /work/scratch/stage2/data/train.npz \
  --run-dir /work/scratch/stage2/runs/$RUN --init vsadcvsr/weights/compact.safetensors --model compact --stage 2 \
  --batch 2 --crop 48 --frames 3 \
  --phases 2e-5:3600:100 2e-5:3600:100 2e-5:3600:100 \
  --teachers animevideov3=0.65,x4plus=0.35 --teacher-mix blend --preset-weights mild=0.9,standard=0.1 \
  --feature-weight 0 --ae-weight 0 --contrast-weight 300 --grid-weight 20 --lowband-weight 2 \
  --disc-backbone x4plus --disc-depths 6 --disc-crop 48 --adv-pixel-weight 1.6 --adv-start 25 --d-lr 2e-4 \
  --ema 0.99 --threads 1 --log-every 5 --checkpoint-every-s 120 --export /work/scratch/stage2/runs/$RUN/compact "$@"
