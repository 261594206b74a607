#!/bin/sh
# Run A (2026-12-05, tenth session): the adversary on top of the steady teacher, with the steady teacher's output of
# the student's own clip as the detail head's only real sample (--detail-real teacher, x4plus-stable), Y's heads
# (--disc-flat 0.5, the rest of ../stage2_2026-12-04_heads/cmd_V.sh), adversarial term 3.2 (Z's). It starts from run
# S's 300-step export (regression only on 0.5 animevideov3 + 0.5 x4plus-stable, same losses) and keeps S's teachers,
# so that A at step N pairs with S at step 300 + N (S's exports at 600 and 900); the heads train 100 steps before the
# student sees them. One run on both cores:
#   sh cmd_A.sh A
#   sh cmd_A.sh A2 --grid-weight 1000   # A2: A's state at step 212 (state.pt, log copied) with the grid term at 1000:
#                                       # A brought the 4-px screen door back (selection grid 190 at step 200)
#   sh cmd_A.sh A3 --grid-weight 1000 --disc-degrid   # A3: A2's state at its stop, the discriminator blind to
#                                       # the 4-px periodic pattern (A2 still had grid 108 at step 300)
#   sh cmd_A.sh A4 --grid-weight 1000 --disc-degrid --temporal-weight 60   # A4: A3's state at step 5xx with the
#                                       # flicker term (A3's edges turned jagged); from there A3 and A4 side by
#                                       # side, each with --threads 1
#   sh cmd_A.sh A5 --grid-weight 1000 --disc-degrid --disc-depths 6 --phases 2e-5:7200:@100 2e-5:7200:@200 \
#     2e-5:7200:@300                    # A5: from S's 300-step export again, degrid from the start and one tap
#                                       # (conv 6: 13 px of input), so the heads' statistics reach less far past
#                                       # edges (A3's edges turned jagged)
#   sh cmd_A.sh A6 --grid-weight 1000 --disc-degrid --disc-depths 6 --disc-local 0.5 --threads 1
#                                       # A6 (eleventh session): A5 with the detail head per place on the flattest
#                                       # half of each crop at LR scale, no crop-wide statistics (A3 answered the
#                                       # statistics with jagged edges, A5 with edge fringes); beside run S65
#                                       # (../stage2_2026-12-04_heads/cmd_V.sh) on the other core. Stopped at step
#                                       # 124: the per-place logits of the heads' conv trunk stayed at chance
#   sh cmd_A.sh A7 --grid-weight 1000 --disc-degrid --disc-depths 6 --disc-local 0.5 --threads 1
#                                       # A7: A6 with the per-place logit a linear one on each 4x4 block's own
#                                       # standardised channel statistics (calibrated, --d-stats-lr 1e-2), as
#                                       # ../stage2_2026-12-05_local/probe_local.py found separable (81 %)
#   sh cmd_A.sh A8 --grid-weight 1000 --disc-degrid --disc-depths 6 --disc-local 0.5 --threads 1 \
#     --adv-pixel-weight 6.4            # A8: A7's state at step 100 (heads trained, before the student saw them)
#                                       # with the adversarial term doubled; A7 and A8 side by side
#   sh cmd_A.sh A9 --grid-weight 1000 --disc-degrid --disc-depths 6 --disc-local 0.5 --threads 1 \
#     --detail-real video-only          # A9: A7 with the HR video of the same window as the detail head's only
#                                       # real sample (its texture: BRISQUE 34 against the steady teacher's 28-47)
#   sh cmd_A.sh A10 --grid-weight 100 --disc-degrid --disc-depths 6 --disc-local 0.5 --threads 1 \
#     --detail-real video-only          # A10: A9 with S's grid term (100): the regression-only control G1000
#                                       # (cmd_V.sh) showed that the grid term at 1000 alone smooths the student
#                                       # (and ../stage2_2026-12-05_local/probe_grad_share.py that it was nearly
#                                       # all of A9's gradient); stopped at 227
#   sh cmd_A.sh A11 --grid-weight 100 --disc-degrid --disc-depths 6 --disc-local 0.5 --threads 1
#                                       # A11: A10 with the steady teacher as the real sample (A7 at grid 100)
#   sh cmd_A.sh A12 --grid-weight 300 --disc-degrid --disc-depths 6 --disc-local 0.5 --threads 1 \
#     --detail-real video-only          # A12: A10's state at step 227 with the grid term at 300 (A10 answered
#                                       # the per-place head with a local 4-px pattern: selection grid 52 at 200)
#   sh cmd_A.sh A13 --grid-weight 100 --disc-degrid --disc-degrid-window 4 --disc-depths 6 --disc-local 0.5 \
#     --threads 1                       # A13 (twelfth session): A11 with the discriminator blind to a 4-px
#                                       # pattern per 16-px tile (A10/A11's local pattern survived the crop-wide
#                                       # degrid); beside A14 on the other core
#   sh cmd_A.sh A14 --grid-weight 100 --disc-degrid --disc-degrid-window 2 --disc-depths 6 --disc-local 0.5 \
#     --threads 1                       # A14: A13 with 8-px tiles
#   sh cmd_A.sh A15 --grid-weight 100 --disc-degrid --disc-degrid-window 4 --disc-depths 6 --disc-local 0.5 \
#     --threads 1 --detail-real video-only   # A15: A13 with the HR video as the real sample
#   sh cmd_A.sh A16 ... (A15's options) --adv-pixel-weight 6.4   # A16: A15 with the adversary doubled
#   sh cmd_A.sh A17 --grid-weight 100 --disc-degrid --disc-degrid-window 4 --disc-depths 6 --disc-local 0.5 \
#     --threads 1 --detail-real video-only --data /work/scratch/stage2/data/train_alt.npz --invariance-weight 40
#                                       # A17: A15 with the draw term (the heads ask for grain; the draw term
#                                       # asks that it be made of the content); A18 the same at 200, beside it;
#                                       # train_alt.npz: see cmd_V.sh (I40)
#   sh cmd_A.sh LA15 (A15's options) --model compact-deep --init /work/scratch/stage2/runs/LA15/init.safetensors
#                                       # LA15 (thirteenth session): A15 with the 24-convolution student (init: S at
#                                       # 300 grown by scripts/grow_model.py, as L65 in cmd_V.sh); stopped at 223
#   sh cmd_A.sh NA (A17's options) --model compact-noise   # NA: A17 with a noise input (zero at the start)
#   NB-NJ: A17's options --model compact-noise --init /work/scratch/stage2/runs/NA/state.pt --adv-start 30 (NB-NF) or
#     0 (NG-NJ) --noise-lr 2e-3 --phases 2e-5:7200:@50 2e-5:7200:@100 ... and:
#       NB (nothing more), ND --adv-pixel-weight 6.4, NE --noise-init 0.03, NF --noise-init 0.03 --adv-pixel-weight
#       6.4, NG --noise-init 0.03 --init-disc /work/scratch/stage2/runs/A17/state.pt, NH = NG --adv-pixel-weight
#       6.4, NI = NG --contrast-target hr, NJ = NI --adv-pixel-weight 0
#   NK-NS (fourteenth session): NI's options with --noise-lr 1e-2 and phases @200 @250 @300 @400 @500 @600 @800,
#     each from a copy of another run's state.pt and log.jsonl: NK = NJ's state at 160 (--adv-pixel-weight 0),
#     NL = NI's at 154 (adversary 3.2; stopped at 351), NM = NK's at 367 with the noise weights (live and averaged)
#     tripled by ../stage2_2026-12-05_grain/scale_noise.py (--adv-pixel-weight 0; stopped at 426), NO = NK's at 426
#     with --disc-grain 3 --adv-start 470 and phases @470 @500 @550 @600 @700 @800 (adversary 3.2 from 470; stopped
#     at 630), NP = NO's at 579 with --disc-grain 3 --adv-start 100000 --d-steps 16 --d-stats-lr 3e-2 (the heads
#     alone; stopped at 599), NQ = NP's at 599 with --disc-grain 3 --d-steps 4 --d-stats-lr 3e-2 --threads 2
#     (adversary 3.2 again) and phases @650 @700 @750 @800 @900, alone on both cores (stopped at 800); NR (a fresh
#     run) with NQ's options but --init /work/scratch/stage2/runs/NK/compact-p5.safetensors --noise-init 0
#     --disc-depths 16 --adv-start 40 --d-steps 8 and phases @40 @80 @120 @160 @200 (heads per 4x4 block on
#     convolution 16; stopped at 122); NS = NR's state at 122 with --adv-start 100000 --d-steps 16 and phases @200
#     (the heads alone, 16 updates per step)
#   NT (fifteenth session): NS's options with --disc-place-hidden 64 --adv-start 175 --d-steps 4 --d-stats-lr 1e-3
#     and phases @190 @200 @225 @250 @300, from the state ../stage2_2026-12-05_fit/fit_place_heads.py wrote
#     (fit_place_heads.py runs/NS runs/NT 64 0.333 64: NS's state at 175 with the per-place logit an MLP fitted
#     offline); stopped at 217 and resumed with phases @225 @250 @300 @350 @400 @500 @600, stopped at 274 and
#     resumed with --threads 1 and phases @300 @350 @400 @500 @600, stopped at 310 (exports renamed sSTEP after
#     each stop). NV = NT's state at 274 with --threads 1 and the student's learning rate 1e-4 (phases
#     1e-4:7200:@300 @325 @350 @400 @450 @500 @600), then resumed with --threads 2 and phases @650 @700; NW = NV's
#     state at 309 with the learning rate 3e-4 (phases 3e-4:7200:@325 @350 @400 @450 @500 @600; stopped at 381);
#     NX = NV's state at 385 with --adv-pixel-weight 6.4 (phases 1e-4:7200:@400 @450 @500 @550 @600; stopped at
#     457); NY = NV's state at 458 with the per-place MLP fitted afresh (fit_place_heads.py NV NY 64 0.333 64) and
#     NV's options (phases 1e-4:7200:@475 @500 @550 @600 @700; stopped at 551); each beside another on one thread
# Data: /work/scratch/stage2/data/train_stable.npz (../stage2_2026-12-04_heads: the 120-clip set + x4plus-stable).
RUN=${1:-A}; [ $# -gt 0 ] && shift
S=/work/scratch/stage2/runs/S/compact-p2.safetensors   # S at step 300 (cmd_V.sh S --stage 1 ..., see the model card)
exec sh "$(dirname "$0")/../stage2_2026-12-04_heads/cmd_V.sh" "$RUN" --data /work/scratch/stage2/data/train_stable.npz \
  --teachers animevideov3=0.5,x4plus-stable=0.5 --init "$S" --disc-flat 0.5 --detail-real teacher \
  --detail-teacher x4plus-stable --adv-pixel-weight 3.2 --adv-start 100 --threads 2 --log-every 10 \
  --phases 2e-5:7200:@100 2e-5:7200:@200 2e-5:7200:@300 2e-5:7200:@400 2e-5:7200:@500 2e-5:7200:@600 \
  2e-5:7200:@700 2e-5:7200:@800 "$@"
