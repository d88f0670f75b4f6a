#!/usr/bin/env bash
# Add the evaluation extractors' reference implementations (requirements/eval-oracles.txt, --no-deps) and what they
# import (requirements/eval-oracles-deps.txt) to the oracle venv .venv-audiocraft, for `pytest -m parity tests/parity`.
# Idempotent; needs only PyPI. torchaudio there is already the pure-Python shim (scripts/setup_audiocraft_oracle.sh).
# Usage: bash scripts/setup_eval_oracles.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
start=$SECONDS
bash scripts/setup_audiocraft_oracle.sh
py="$root/.venv-audiocraft/bin/python"
stamp="$root/.venv-audiocraft/.eval_oracles.sha256"
if ! sha256sum --status -c "$stamp" 2>/dev/null; then
  if grep -qv -e '^#' -e '^$' requirements/eval-oracles-deps.txt; then
    "$py" -m pip install -q -r requirements/eval-oracles-deps.txt 2>&1 | grep -v -e "^WARNING: Location" -e "requires" \
      -e "^ERROR: pip's dependency resolver" || true
  fi
  "$py" -m pip install -q --no-deps -r requirements/eval-oracles.txt 2>&1 | grep -v -e "^WARNING: Location" || true
  sha256sum requirements/eval-oracles.txt requirements/eval-oracles-deps.txt > "$stamp"
fi
echo "setup_eval_oracles.sh: done in $((SECONDS - start)) s"
