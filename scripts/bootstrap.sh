#!/usr/bin/env bash
# Sets up .venv with everything coexplore needs; safe to run again (it only installs what is missing).
# torch goes first and pinned: an unpinned torch pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# ray is checked too: CI runs the Ray executor's tests on a real local cluster.
if ! .venv/bin/python -c "import torch, ray, coexplore" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[dev,ray,onnx,nb201]"
  touch .venv/.installed
fi
