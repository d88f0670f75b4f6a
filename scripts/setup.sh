#!/usr/bin/env bash
# Create the venv (if missing) and install hf_audiogen with the given extras. Idempotent; needs only PyPI.
# Usage: bash scripts/setup.sh [--latest] [EXTRAS]     e.g. bash scripts/setup.sh dev
#   default:   .venv, every package at the version of requirements/lock.txt (the versions the suite passes with)
#   --latest:  .venv-latest, the newest releases that pyproject.toml's ranges allow (to find out what a release broke)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
constraints=(-c requirements/lock.txt)
if [ "${1:-}" = "--latest" ]; then
  # eager upgrades, except torch: upgrading it from PyPI would replace the CPU wheel with the CUDA build (+ nvidia-*)
  venv=.venv-latest constraints=(--upgrade --upgrade-strategy eager -c scripts/lock-overrides.txt)
  shift
fi
extras="${1:-}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
quiet_pip() { "$py" -m pip install -q "$@" 2>&1 | grep -v "^WARNING: Location" || true; }
# torch first, as the exact CPU wheel: a loose requirement would pull a multi-GB CUDA build.
if ! "$py" -c "import torch" 2>/dev/null; then
  quiet_pip --upgrade pip
  quiet_pip torch==2.13.0
fi
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
quiet_pip "${constraints[@]}" -e "$spec"
# Reference LAVIS Q-Former for tests/parity/test_parity_autocap_qformer.py (BSD-3). Only its Qformer.py is imported, by
# file path; --no-deps because the package declares a large vision stack we never import.
case ",$extras," in *,dev,*)
  if ! "$py" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('lavis') is None)"; then
    quiet_pip --no-deps salesforce-lavis==1.0.2
  fi ;;
esac
"$py" -c "import hf_audiogen" # fail loudly if the install did not work
