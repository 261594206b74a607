#!/bin/bash
# Device session 2: CUDA tests (again, after the tolerance fix), then stage 1 (tiny + tiny-2d ablation, same init,
# same data, concurrently) and stage 2 on tiny. Usage: bash .gpu/session2.sh OUT_DIR [scale]
set -u
OUT=${1:?out dir}; S=${2:-1}
mkdir -p "$OUT/logs"
export PYTHONUNBUFFERED=1
t() { python3 -c "print(int($1*$S))"; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/logs/timeline.txt"; }
if [ -d .whl ] && ! python3 -c "import vapoursynth" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
el "env ready"
DATA=/tmp/gpu2.npz
python3 scripts/make_training_data.py $DATA --clips $(t 3000) --frames 5 --lr-size 64 --seed 8 --mild-fraction 0.9 --workers 15 > "$OUT/logs/data.log" 2>&1 &
DPID=$!
timeout 60 python3 -m pytest -q -m cuda tests/test_vs_filter_cuda.py tests/test_engine.py tests/test_colour.py -p no:cacheprovider -ra > "$OUT/logs/cuda_tests.log" 2>&1
el "cuda tests rc=$? $(tail -1 "$OUT/logs/cuda_tests.log")"
wait $DPID; el "data rc=$? $(tail -1 "$OUT/logs/data.log")"
[ -f $DATA ] || exit 4
R=/tmp/runs
P1="1e-4:$(t 115) 3e-5:$(t 80)"
timeout -k 5 $(t 250) python3 scripts/train_phases.py --data $DATA --run-dir $R/a1 --init .gpu/init-step785.pt --batch ${B1:-32} --crop 64 --frames 5 \
  --phases $P1 --export "$OUT/tiny-s1" > "$OUT/logs/a1.log" 2>&1 &
APID=$!
timeout -k 5 $(t 250) python3 scripts/train_phases.py --data $DATA --run-dir $R/b1 --model tiny-2d --init .gpu/init-step785.pt --batch ${B1:-32} --crop 64 --frames 5 \
  --phases $P1 --export "$OUT/tiny2d-s1" > "$OUT/logs/b1.log" 2>&1 &
BPID=$!
wait $APID; el "stage 1 rc=$? $(grep 'phase' "$OUT/logs/a1.log" | tail -2 | tr '\n' ' ')"
wait $BPID; el "2d rc=$? $(grep 'phase' "$OUT/logs/b1.log" | tail -2 | tr '\n' ' ')"
rm -f "$OUT/tiny2d-s1-p0.safetensors"
timeout -k 5 $(t 90) python3 scripts/train_phases.py --data $DATA --run-dir $R/a2 --stage 2 --init $R/a1/state.pt --batch ${B2:-16} --crop 64 --frames 5 \
  --phases 2e-5:$(t 30) 2e-5:$(t 30) --adv-pixel-weight 0.1 --adv-feature-weight 0.1 --export "$OUT/tiny-s2" > "$OUT/logs/a2.log" 2>&1
el "stage 2 rc=$? $(grep 'phase' "$OUT/logs/a2.log" | tail -2 | tr '\n' ' ')"
for r in a1 b1 a2; do cp $R/$r/log.jsonl "$OUT/logs/$r.jsonl" 2>/dev/null; done
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
ls -la "$OUT"
