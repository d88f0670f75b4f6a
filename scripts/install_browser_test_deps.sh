#!/usr/bin/env bash
# Install what tests/test_space_browser.py needs: Debian's Chromium and Playwright's Python package (only the
# package: its own browser download cannot work here, the tests drive /usr/bin/chromium), plus gradio and
# gradio_client for the demo. Idempotent: does nothing that is already done. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
[ -x "$py" ] || bash scripts/setup.sh

if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq chromium >/dev/null
fi

# The versions the Space pins (spaces/requirements.txt) and the tests ran with.
pins=(playwright==1.65.2 gradio==6.31.0 gradio_client==2.7.2 matplotlib==3.11.2)
# (a missing package makes the check fail too: importlib.metadata raises PackageNotFoundError)
if ! "$py" -c "import sys; from importlib.metadata import version as v; \
sys.exit(any(v(n) != want for n, want in (p.split('==') for p in sys.argv[1:])))" "${pins[@]}" 2>/dev/null; then
  "$py" -m pip install -q "${pins[@]}" 2>&1 | grep -v "^WARNING: Location" || true
fi

chromium --version 2>/dev/null | head -n1
"$py" -c "import gradio, gradio_client, playwright; from importlib.metadata import version; \
print('gradio', gradio.__version__, '| gradio_client', gradio_client.__version__, '| playwright', version('playwright'))"
