#!/usr/bin/env bash
# Set everything up and run the main job: text-to-audio with the small AudioGen model bundled with the package
# (trained here on the real sound-effect corpus), offline -> outputs/a_cow_mooing.wav. Arguments override the prompt.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
prompt="${1:-a cow mooing}"
exec .venv/bin/hf-audiogen generate "$prompt" --duration 3 --seed 0 --out "outputs/$(echo "$prompt" | tr -c 'a-zA-Z0-9\n' '_').wav"
