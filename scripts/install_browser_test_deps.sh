#!/usr/bin/env bash
# Install what tests/space/test_space_browser.py needs beyond the dev extra (which brings playwright's Python package and
# gradio): Debian's Chromium, which the test drives (playwright's own browser download cannot work here).
# Idempotent. Needs root (or sudo) for apt-get. VENV: the venv whose packages are reported (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${VENV:-.venv}/bin/python"
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq chromium >/dev/null
fi
chromium --version 2>/dev/null | head -n1
"$py" -c "import gradio, gradio_client, playwright; from importlib.metadata import version; \
print('gradio', gradio.__version__, '| gradio_client', gradio_client.__version__, '| playwright', version('playwright'))"
