#!/bin/sh
# The crops of docs/results.md's "Per-place heads fitted offline" paragraph (fifteenth session), from the scratch
# exports of runs NT-NY (/work/scratch/stage2/runs; NT's and NV's exports renamed sSTEP after each stop; NW's p1 is
# step 350, NY's p2 step 550); one thread, about 20 s each. From the repository root.
# The selection rows (selection_fit.jsonl): ../stage2_2026-12-05_grain/select_noise.py EXPORT 0 1 per export, the
# run, step and noise scale added to each row.
R=/work/scratch/stage2/runs
M="ours:default noise:$R/NT/s190.safetensors:1 noise:$R/NV/s600.safetensors:0 noise:$R/NV/s600.safetensors:1 \
noise:$R/NW/compact-p1.safetensors:0 noise:$R/NY/compact-p2.safetensors:0"
export PYTHONPATH="$PWD" OMP_NUM_THREADS=1
(cd docs/results/stage2_2026-12-05_grain && ../../../.venv/bin/python crops_grain.py ../stage2_2026-12-05_fit/crops_fit.jpg $M)
.venv/bin/python docs/results/stage2_2026-12-05_fit/crops_highpass.py docs/results/stage2_2026-12-05_fit/crops_fit_highpass.jpg $M
