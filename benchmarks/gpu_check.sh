#!/usr/bin/env bash
# The GPU checks of issues 4, 5 and 6 in one call (an H100/H200 lent through the device tool, or
# any CUDA machine). Models are built from configs (random weights): no download, no network.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR [PART ...]]   # all parts within GPU_CHECK_BUDGET (540 s)
#
# On the device tool's image (torch, transformers, sentence-transformers, accelerate, pandas
# present), the teacher needs ftfy: carry its wheels in .whl/ (see the device README), e.g.
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl ftfy wcwidth
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-gpu-check}}
BUDGET=${GPU_CHECK_BUDGET:-540}   # seconds for all parts; the device tool allows 600 per call
mkdir -p "$OUT"
START=$SECONDS
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
# the tokenizer's own threads feed the GPU (the scorer tokenises in a background thread)
export PYTHONPATH=src:${PYTHONPATH:-} PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"
python3 -c "import torch.nn.attention.varlen" 2>/dev/null && echo "varlen attention: yes" | tee -a "$OUT/gpu.txt" \
  || echo "varlen attention: no (packed scoring uses flash-attn or SDPA)" | tee -a "$OUT/gpu.txt"

run() {  # name, timeout seconds, command...  (each part gets at most what is left of the budget)
  local name=$1 limit=$2; shift 2
  local left=$((BUDGET - (SECONDS - START)))
  if [ "$left" -lt 30 ]; then echo "=== $name skipped: ${left}s of the budget left" | tee "$OUT/$name.log"; return; fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "=== $name (limit ${limit}s): $*" | tee "$OUT/$name.log"
  timeout "$limit" "$@" 2>&1 | grep --line-buffered -v -e "^Loading weights" -e "it/s]$" | tee -a "$OUT/$name.log"
  echo "=== $name exit ${PIPESTATUS[0]} after $((SECONDS - START))s" | tee -a "$OUT/$name.log"
}

# In order of what the issues still need. Parts can be picked: bash benchmarks/gpu_check.sh OUT rerank train
PARTS=${*:2}
PARTS=${PARTS:-rerank teacher_7b train teacher_small}
for part in $PARTS; do
  case $part in
    # issue 5 / 6: ELECTRA-base re-ranking (padded and packed engines, eager and compiled) vs sentence-transformers
    rerank) run rerank 240 python3 benchmarks/rerank.py --model-config electra-base --device cuda --pairs 20000 --compile ;;
    # issue 4: a 7B-shaped Llama (RankZephyr's size) at batch 64, one window at a time vs cross-query batching
    teacher_7b) run teacher_7b 200 python3 benchmarks/teacher.py --device cuda --layers 32 --hidden 4096 --heads 32 \
        --dtype bfloat16 --batch-size 64 --queries 64 --seq-queries 2 --window 20 --step 10 --depth 100 --passage-words 60 ;;
    # issue 5 / 6: stage-2 training steps (32 x 100 candidates split into micro-batches) vs a plain loop
    train) run train 150 python3 benchmarks/train.py --model-config electra-base --device cuda --group 100 --queries 8 --steps 20 ;;
    # issue 6: the teacher's batched generation with a config-built small causal LM
    teacher_small) run teacher_small 100 python3 benchmarks/teacher.py --device cuda --layers 8 --hidden 1024 \
        --dtype bfloat16 --batch-size 64 --queries 64 --seq-queries 8 --window 20 --step 10 --depth 100 ;;
    *) echo "unknown part $part" ;;
  esac
done
echo "logs in $OUT after $((SECONDS - START))s"
