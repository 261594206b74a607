#!/bin/bash
# Device call A (2026-12-04): the cuda-marked tests, then the GPU benchmark (the default model in fp32/fp16,
# compiled fp16 and TensorRT fp16 at 720p and 1080p output; the paper-size network at 512x512).
# Here first: wheels of vapoursynth 81 and scikit-video 1.1.11 in .whl/, `python scripts/pack_teachers.py .gpu/teachers`.
# There: run(command="bash docs/results/gpu_h200_2026-12-04/session_a.sh $OUT", carry=[".whl", ".gpu/teachers"])
set -u
OUT=${1:?out dir}
export PYTHONUNBUFFERED=1
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/timeline.txt"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD VSADCVSR_TEACHER_DIR=$PWD/.gpu/teachers
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python3 -c "import torch, numpy, vapoursynth, onnxruntime as ort; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__, 'vs', vapoursynth.__version__, 'ort', ort.__version__, ort.get_available_providers())"
  python3 -c "import tensorrt; print('tensorrt', tensorrt.__version__)" 2>&1 | tail -1; } > "$OUT/env.txt" 2>&1
el "env ready: $(tr '\n' ' ' < "$OUT/env.txt")"
timeout 170 python3 -m pytest -q -m cuda -p no:cacheprovider -ra tests/test_vs_filter_cuda.py tests/test_engine.py \
  tests/test_colour.py tests/test_onnx.py tests/test_train_teachers.py > "$OUT/cuda_tests.log" 2>&1
el "cuda tests rc=$? $(tail -1 "$OUT/cuda_tests.log")"
timeout 230 python3 scripts/benchmark.py --sections gpu --sizes 320x180 480x270 --repeats 5 --budget-s 3 \
  --timeout 120 --out "$OUT/bench" > "$OUT/bench.log" 2>&1
el "bench rc=$?"
grep "^gpu:" "$OUT/bench.log"
