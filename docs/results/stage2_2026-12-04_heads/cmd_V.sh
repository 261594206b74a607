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
# run R's command (later options win) with T's changes, the three heads options and the grid term at 100
exec sh "$(dirname "$0")/../stage2_2026-12-04/cmd_R.sh" "$RUN" --detail-real video-only --disc-depths 6,16 \
  --disc-crop 64 --grid-weight 100 --disc-calibrate 64 --d-stats-lr 1e-2 --d-steps 4 "$@"
