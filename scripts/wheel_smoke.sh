#!/usr/bin/env bash
# The newcomer's path from a wheel: build hf_audiogen's wheel, install it into a brand-new venv without extras (the CPU
# torch wheel first, then the wheel with requirements/lock.txt as constraints), and run `hf-audiogen generate` with the
# bundled model and `hf-audiogen card` from outside the source tree, offline.
# Usage: bash scripts/wheel_smoke.sh [WORK_DIR]   (default: a temporary folder, removed afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="${1:-$(mktemp -d)}"
[ -n "${1:-}" ] || trap 'rm -rf "$work"' EXIT
start=$SECONDS
quiet_pip() { "$@" 2>&1 | grep -v "^WARNING: Location" || true; }
rm -rf "$work/dist"
quiet_pip python3 -m pip wheel -q --no-deps -w "$work/dist" "$repo"
wheel="$(ls "$work"/dist/hf_audiogen-*.whl)"
python3 - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
wanted = ["hf_audiogen/model_cards/audiogen.md", "hf_audiogen/pretrained/audiogen-sfx-demo/model.safetensors",
          "hf_audiogen/pretrained/audiogen-sfx-demo/ATTRIBUTION.md", "licenses/LICENSE", "licenses/NOTICE"]
missing = [w for w in wanted if not any(n.endswith(w) for n in names)]
assert not missing, f"the wheel lacks {missing}"
PY
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
quiet_pip "$py" -m pip install -q torch==2.13.0
quiet_pip "$py" -m pip install -q -c "$repo/requirements/lock.txt" "$wheel"
cd "$work"  # away from the checkout: nothing may be read from the source tree
export HF_HUB_OFFLINE=1
"$work/venv/bin/hf-audiogen" generate "a dog barking" --duration 1 --seed 0 --out "$work/dog.wav"
"$py" - "$work/dog.wav" <<'PY'
import sys, numpy as np, soundfile as sf
audio, rate = sf.read(sys.argv[1])
assert rate == 16000 and abs(len(audio) / rate - 1.0) < 0.05, (rate, len(audio))
assert np.isfinite(audio).all() and np.abs(audio).max() > 1e-3, "the generated audio is silent or not finite"
PY
"$py" -c "import shutil, sys; from hf_audiogen.pretrained import bundled_model_path; \
shutil.copytree(bundled_model_path('sfx-codec-small'), sys.argv[1])" "$work/codec"
rm "$work/codec/README.md"
"$work/venv/bin/hf-audiogen" card "$work/codec" --license cc-by-sa-4.0
grep -q "pipeline_tag: audio-to-audio" "$work/codec/README.md"
echo "wheel smoke: passed in $((SECONDS - start)) s ($(basename "$wheel"))"
