#!/bin/bash
# Device session 3 (prepared 2026-11-26, not yet run): (1) training data with both teachers run on the GPU, (2) the
# generator's loss and gradients of one batch on the CPU against CUDA with TF32 off/on and channels_last/contiguous
# (scripts/check_gradients.py: the earlier GPU runs saw gradient norms 1e2-1e6 where the CPU sees 2-5), (3) stage 1
# on the blended teacher from the shipped weights and their feature encoder, with the first setting that (2) found
# sound (nothing is trained when none is), twice side by side: without and with the local-contrast term (W 100). Here first: bash docs/results/gpu_h200/prepare_run3.sh (builds .gpu/run3).
# There: run(command="bash docs/results/gpu_h200/session_run3.sh $OUT", carry=[".gpu/run3"], timeout_s=560)
# Optional second argument scales every duration (0.2 for a rehearsal on the CPU: see the README beside this file).
set -u
OUT=${1:?out dir}; S=${2:-1}
mkdir -p "$OUT/logs"
export PYTHONUNBUFFERED=1
t() { python3 -c "print(max(1, int($1 * $S)))"; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/logs/timeline.txt"; }
pack() { for r in a b; do cp /tmp/runs3/$r/log.jsonl "$OUT/logs/$r.jsonl" 2>/dev/null; done
         tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"; ls -la "$OUT"; }
G=.gpu/run3
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site3 $G/whl/*.whl || exit 3
[ -x /tmp/ffmpeg3 ] || { xz -dc $G/ffmpeg.xz > /tmp/ffmpeg3 && chmod +x /tmp/ffmpeg3; } || exit 3
export PYTHONPATH=/tmp/site3:$PWD/$G/site:$PWD IMAGEIO_FFMPEG_EXE=/tmp/ffmpeg3 VSADCVSR_TEACHER_DIR=$PWD/$G/teachers
DEV=${DEV:-cuda}
el "env ready: $(python3 -c 'import torch; print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else "no cuda")')"

DATA=/tmp/gpu3.npz
python3 scripts/make_training_data.py $DATA --clips ${CLIPS:-$(t 2000)} --frames 5 --lr-size 64 --seed 9 --mild-fraction 0.9 \
  --workers 15 --teacher animevideov3 --teacher x4plus --teacher-device $DEV > "$OUT/logs/data.log" 2>&1
el "data rc=$? $(tail -1 "$OUT/logs/data.log")"
[ -f $DATA ] || { pack; exit 4; }

python3 scripts/check_gradients.py --data $DATA --init vsadcvsr/weights/tiny.safetensors \
  --teachers animevideov3=0.65,x4plus=0.35 --teacher-mix blend --batch 8 --crop 64 --frames 5 --steps 10 \
  > "$OUT/logs/gradients.jsonl" 2> "$OUT/logs/gradients.err"
el "gradients rc=$? $(cut -c1-300 "$OUT/logs/gradients.jsonl" | tr '\n' ' ')"
FLAGS=$(python3 - "$OUT/logs/gradients.jsonl" <<'PY'
import json, sys, torch
rows = {r["variant"]: r for r in map(json.loads, open(sys.argv[1])) if "ok" in r}
order = (("cuda fp32 channels_last", "-"), ("cuda fp32 contiguous", "--contiguous"),
         ("cuda tf32 channels_last", "--tf32"), ("cuda tf32 contiguous", "--tf32 --contiguous"))
if not torch.cuda.is_available():
    print("cpu-only")  # a rehearsal on the CPU
else:  # a crashed check leaves no row: nothing is trained
    print(next((f for v, f in order if rows.get(v, {}).get("ok")), "NONE"))
PY
)
el "training flags: $FLAGS"
case "$FLAGS" in NONE) pack; exit 5;; -|cpu-only) FLAGS="";; esac

# two runs side by side (the GPU has room): a = the blend as on the CPU, b = the same with the local-contrast term
for r in a b; do
  extra=""; [ $r = b ] && extra="--contrast-weight 100"
  timeout -k 5 $(t 350) python3 scripts/train_phases.py --data $DATA --run-dir /tmp/runs3/$r \
    --init vsadcvsr/weights/tiny.safetensors --batch ${BATCH:-16} --crop 64 --frames 5 \
    --teachers animevideov3=0.65,x4plus=0.35 --teacher-mix blend --preset-weights mild=0.9,standard=0.1 \
    --phases 1e-4:$(t 150) 5e-5:$(t 110) $FLAGS $extra --export "$OUT/tiny-$r" > "$OUT/logs/$r.log" 2>&1 &
done
wait
for r in a b; do el "stage 1 $r: $(grep 'phase' "$OUT/logs/$r.log" | tail -2 | tr '\n' ' ')"; done
rm -f "$OUT/tiny-b-p0.safetensors" "$OUT/tiny-b-p0.encoder.safetensors"   # at most 8 files come back
pack
