#!/usr/bin/env bash
# Create .venv-audiocraft: audiocraft 1.3.0 (the reference implementation) + hf_audiogen, used only as a numerical
# oracle by `pytest -m parity tests/parity` and benchmarks/generation_speed.py. Idempotent; needs only PyPI.
#
# audiocraft 1.3.0 pins torch==2.1.0, xformers<0.0.23 and av==11, none of which install next to torch 2.13, so it
# goes in with --no-deps and its import-time dependencies are listed here instead. Two shims make it import:
#   * torchaudio: PyPI's newest torchaudio (2.11.0) is a CUDA build whose C extension fails to load with torch
#     2.13+cpu. Moving torchaudio/lib/*.so away makes torchaudio fall back to pure Python (its _load_lib returns
#     False when the file is missing); audiocraft only needs it for spectrogram transforms, which are pure torch.
#   * xformers: audiocraft imports xformers.ops at import time; tests/parity/stubs/xformers (our own stub) provides
#     the three names it touches, added to the venv's path by a .pth file.
# Usage: bash scripts/setup_audiocraft_oracle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
venv="$root/.venv-audiocraft"
start=$SECONDS

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
# pip's resolver lists audiocraft's unmet pins (expected, see above) on every later install: filter that noise.
pip_install() {
  "$py" -m pip install -q "$@" 2>&1 \
    | grep -v -e "^WARNING: Location" -e "^audiocraft 1.3.0 requires" -e "^ERROR: pip's dependency resolver" || true
}

# torch first, as the exact CPU wheel: a loose requirement would pull a multi-GB CUDA build.
if ! "$py" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  pip_install --upgrade pip
  pip_install torch==2.13.0
fi

# audiocraft's import-time dependencies (pinned for reproducibility; transformers matches the main venv).
pip_install numpy==2.4.6 einops==0.8.2 omegaconf==2.4.0 soundfile==0.14.0 av==18.1.0 julius==0.2.8 \
  num2words==0.5.14 spacy==3.8.18 transformers==5.23.0 librosa==0.11.0 flashy==0.0.2 torchmetrics==1.9.0
pip_install --no-deps audiocraft==1.3.0
pip_install --no-deps torchaudio==2.11.0

# Shim 1: make torchaudio pure Python (see the header).
site="$("$py" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")"
if compgen -G "$site/torchaudio/lib/*.so" > /dev/null; then
  mkdir -p "$venv/disabled_torchaudio_libs"
  mv "$site"/torchaudio/lib/*.so "$venv/disabled_torchaudio_libs/"
fi
# Shim 2: our xformers stub on the path.
echo "$root/tests/parity/stubs" > "$site/hf_audiogen_parity_stubs.pth"

# hf_audiogen itself (editable), with its own dependencies; again whenever pyproject.toml changed.
stamp="$venv/.hf_audiogen_pyproject.sha256"
if ! "$py" -c "import hf_audiogen" 2>/dev/null || ! sha256sum --status -c "$stamp" 2>/dev/null; then
  pip_install -e "$root[dev]"
  sha256sum "$root/pyproject.toml" > "$stamp"
fi

# Fail loudly if the oracle does not work.
"$py" - <<'EOF'
import torch, torchaudio, xformers, audiocraft, hf_audiogen
from audiocraft.models import builders, lm, encodec  # noqa: F401

assert xformers.__version__.endswith("hf_audiogen_stub"), xformers.__file__
mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_mels=8)(torch.randn(1, 1600))
print(f"audiocraft oracle ready: audiocraft {audiocraft.__version__}, torch {torch.__version__}, "
      f"torchaudio {torchaudio.__version__} (pure Python, mel {tuple(mel.shape)}), hf_audiogen {hf_audiogen.__version__}")
EOF
echo "setup_audiocraft_oracle.sh: done in $((SECONDS - start)) s"
