#!/usr/bin/env bash
# Refresh requirements/lock.txt: the exact versions of everything but torch that `scripts/setup.sh` installs (as pip
# constraints) for every extra. Run it after changing pyproject.toml's dependencies, then run `bash scripts/test.sh`
# (which installs the new lock) and commit the lock only if the suite passes.
# torch is resolved as the CPU wheel (pyproject's [tool.uv.dependency-metadata]) and left out of the lock: setup.sh
# installs torch==2.13.0 first, and a lock compiled against the CUDA build would pin nvidia-* packages.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=.venv-tools
if [ ! -x "$tools/bin/uv" ]; then
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install -q "uv==0.13.10" 2>&1 | grep -v "^WARNING: Location" || true
fi
python_version="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
"$tools/bin/uv" pip compile pyproject.toml --extra dev --override scripts/lock-overrides.txt --no-emit-package torch \
  --python-version "$python_version" --custom-compile-command "bash scripts/lock.sh" -q -o requirements/lock.txt
echo "wrote requirements/lock.txt ($(grep -c '^[a-zA-Z]' requirements/lock.txt) packages, Python $python_version)"
