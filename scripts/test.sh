#!/usr/bin/env bash
# Set everything up and run the default (fast) test suite. Extra arguments go to pytest.
# Usage: bash scripts/test.sh [--latest] [PYTEST ARGS]
#   --latest: in .venv-latest, against the newest releases pyproject.toml allows instead of requirements/lock.txt
#             (not part of CI: a library release must not turn CI red; run it to see what the next lock would break)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv latest=()
if [ "${1:-}" = "--latest" ]; then
  venv=.venv-latest latest=(--latest)
  shift
fi
bash scripts/setup.sh "${latest[@]}" dev
# Chromium for the Space's browser test (the test is skipped with a reason if this fails).
VENV="$venv" bash scripts/install_browser_test_deps.sh || echo "warning: chromium not installed; tests/space/test_space_browser.py will skip"
# One torch thread: tiny models gain nothing from two, and CI shares its two cores with other work.
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
"$venv/bin/python" -c "import sys; from importlib.metadata import version as v; \
print('testing with', ', '.join(f'{n} {v(n)}' for n in sys.argv[1:]))" torch transformers diffusers accelerate \
  datasets peft huggingface-hub
# The docstrings' examples first (src/conftest.py explains the parser), then the suite.
"$venv/bin/python" -m pytest -q -p no:cacheprovider --doctest-modules src/hf_audiogen
exec "$venv/bin/python" -m pytest "$@"
