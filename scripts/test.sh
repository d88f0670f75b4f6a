#!/usr/bin/env bash
# Set everything up and run the default (fast) test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
# Chromium + Playwright + gradio for the Space tests (the browser test is skipped with a reason if this fails).
bash scripts/install_browser_test_deps.sh || echo "warning: browser test dependencies not installed; tests/test_space_browser.py will skip"
# One torch thread: tiny models gain nothing from two, and CI shares its two cores with other work.
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec .venv/bin/python -m pytest "$@"
