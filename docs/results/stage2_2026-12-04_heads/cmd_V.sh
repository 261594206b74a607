#!/bin/sh
# Runs V and W (2026-12-04, eighth session): run T's recipe (../stage2_2026-12-04/cmd_R.sh: H's recipe, adversarial
# term 1.6, real video the detail head's only real sample, x4plus depths 6 and 16, 64 px crops) with the heads'
# statistics standardised on 64 real clips, their own learning rate and 4 discriminator updates per student step
# (probe_heads.py), and the grid term at 100 (T's 20 let the 4-px screen door through); 300 steps from the shipped
# stage-1 weights, the two runs side by side on the same 2 cores:
#   sh cmd_V.sh V                          # V: the adversary on
#   sh cmd_V.sh W --adv-pixel-weight 0     # W: its control (the heads train, the student never sees them)
#   sh cmd_V.sh S65 --stage 1 --adv-pixel-weight 0 --teachers animevideov3=0.35,x4plus-stable=0.65 \
#     --data /work/scratch/stage2/data/train_stable.npz --init /work/scratch/stage2/runs/S/compact-p2.safetensors \
#     --threads 1 --phases 2e-5:7200:@100 2e-5:7200:@200 ... 2e-5:7200:@800
#                                          # S65 (eleventh session): regression only on the steadier, more
#                                          # textured target 0.35 animevideov3 + 0.65 x4plus-stable, from S's
#                                          # 300-step export (S65 at N pairs with S at 300 + N)
#   sh cmd_V.sh G1000 --stage 1 --adv-pixel-weight 0 --grid-weight 1000 --teachers \
#     animevideov3=0.5,x4plus-stable=0.5 --data /work/scratch/stage2/data/train_stable.npz \
#     --init /work/scratch/stage2/runs/S/compact-p2.safetensors --threads 1 --phases 2e-5:7200:@100 2e-5:7200:@200
#                                          # G1000 (eleventh session): S with the grid term at 1000, the
#                                          # regression-only control of runs A2-A9 (cmd_A.sh), which have it
#   sh cmd_V.sh I40 --stage 1 --adv-pixel-weight 0 --teachers animevideov3=0.35,x4plus-stable=0.65 \
#     --data /work/scratch/stage2/data/train_alt.npz --init /work/scratch/stage2/runs/S/compact-p2.safetensors \
#     --threads 1 --invariance-weight 40 --phases 2e-5:7200:@100 2e-5:7200:@200 ... 2e-5:7200:@800
#                                          # I40 (twelfth session): S65 with the draw term at 40 (the student's
#                                          # outputs for two LR draws of each clip must share their fine detail);
#                                          # train_alt.npz = train_stable.npz + make_training_data.py
#                                          # --add-second-draw (6 s); I200 the same at 200, beside it (I10, at 10,
#                                          # stopped at step 25: its gradient share would have been ~4 %)
#   python scripts/grow_model.py /work/scratch/stage2/runs/S/compact-p2.safetensors \
#     /work/scratch/stage2/runs/L65/init.safetensors --convs 24     # (thirteenth session) S at 300, 24 convolutions
#   sh cmd_V.sh L65 --stage 1 --adv-pixel-weight 0 --teachers animevideov3=0.35,x4plus-stable=0.65 \
#     --data /work/scratch/stage2/data/train_stable.npz --model compact-deep \
#     --init /work/scratch/stage2/runs/L65/init.safetensors --threads 1 --phases 2e-5:7200:@100 ... 2e-5:7200:@400
#                                          # L65: S65 with the 24-convolution student (stopped at 336); LI40 the
#                                          # same as I40 (train_alt.npz, --invariance-weight 40; stopped at 138)
# Data as in ../stage2_2026-12-04/cmd_R.sh (seed 0: 120 clips, animevideov3 and x4plus teachers).
RUN=${1:-V}; [ $# -gt 0 ] && shift
# run R's command (later options win) with T's changes, the three heads options and the grid term at 100
exec sh "$(dirname "$0")/../stage2_2026-12-04/cmd_R.sh" "$RUN" --detail-real video-only --disc-depths 6,16 \
  --disc-crop 64 --grid-weight 100 --disc-calibrate 64 --d-stats-lr 1e-2 --d-steps 4 "$@"
