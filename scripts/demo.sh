#!/usr/bin/env bash
# Set everything up and run the main job: encode a bundled real clip to codec tokens with the bundled codec,
# decode it back and write outputs/reconstruction.wav.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
clip="${1:-tests/fixtures/audio/dog_bark.flac}"
exec .venv/bin/hf-audiogen reconstruct "$clip" --out outputs/reconstruction.wav
