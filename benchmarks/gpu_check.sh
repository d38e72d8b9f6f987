#!/usr/bin/env bash
# The GPU checks of issues 4, 5 and 6 in one call (an H100/H200 lent through the device tool, or
# any CUDA machine). Models are built from configs (random weights): no download, no network.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]        # ~6-8 minutes on an H100
#
# On the device tool's image (torch, transformers, sentence-transformers, accelerate, pandas
# present), the teacher needs ftfy: carry its wheels in .whl/ (see the device README), e.g.
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl ftfy wcwidth
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-gpu-check}}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=src:${PYTHONPATH:-} PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"

run() {  # name, timeout seconds, command...
  local name=$1 limit=$2; shift 2
  echo "=== $name: $*" | tee "$OUT/$name.log"
  timeout "$limit" "$@" 2>&1 | tee -a "$OUT/$name.log"
  echo "=== $name exit ${PIPESTATUS[0]}" | tee -a "$OUT/$name.log"
}

# issue 5 / 6: re-ranking ELECTRA-base in bf16 vs sentence-transformers (fp32 default and bf16), useful TFLOP/s
run rerank 240 python3 benchmarks/rerank.py --model-config electra-base --device cuda --pairs 20000
# issue 5 / 6: stage-2 training steps (32 x 100 candidates split into micro-batches) vs a plain loop
run train 180 python3 benchmarks/train.py --model-config electra-base --device cuda --group 100 --queries 8 --steps 20
# issue 6: the teacher's batched generation with a config-built small causal LM
run teacher_small 150 python3 benchmarks/teacher.py --device cuda --layers 8 --hidden 1024 --dtype bfloat16 \
    --batch-size 64 --queries 64 --seq-queries 8 --window 20 --step 10 --depth 100
# issue 4: a 7B-shaped Llama (RankZephyr's size) at batch 64, one window at a time vs cross-query batching
run teacher_7b 300 python3 benchmarks/teacher.py --device cuda --layers 32 --hidden 4096 --heads 32 --dtype bfloat16 \
    --batch-size 64 --queries 64 --seq-queries 2 --window 20 --step 10 --depth 100 --passage-words 60
echo "logs in $OUT"
