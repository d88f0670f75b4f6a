#!/usr/bin/env bash
# The v2 recipe on the 2.8 h multi-source corpus, resumable across sessions: every step skips what is done and every
# training run resumes from its last checkpoint. Runs live outside the repository, in one fixed folder.
#   bash scripts/train_sfx_v2.sh corpus | codec | lm | all      (RUNS=~/hf_audiogen_runs by default)
# codec: 24 filters, 8 x 1024 codes at 50 Hz (4 kbps), L1-weighted reconstruction warm-up, adversarial + feature
#        matching from step 3000 (audiocraft's balancer), held-out SI-SNR / mel every 500 steps, every 500-step
#        checkpoint kept for selection; CODEC_MINUTES per call (default 60).
# lm:    the demo-size AudioGen LM (4 x 192, MiniLM text encoder) on the corpus tokenised by CODEC (default: the bundled
#        codec), dropout 0.1, EMA, the best held-out NLL kept (best_model/); LM_MINUTES per call (default 32).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-$HOME/hf_audiogen_runs}"
py=.venv/bin/python
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1
mkdir -p "$runs"
step="${1:-all}"
corpus="$runs/sfx_corpus_v2"

if [[ $step == corpus || $step == all ]]; then
  .venv/bin/hf-audiogen data build-sfx-corpus "$corpus" --multi-source --continue-on-error --cache-dir "$runs/cache"
fi

if [[ $step == codec || $step == all ]]; then
  [ -f "$runs/codec_v2_config.json" ] || $py -c "import sys; from hf_audiogen.codec import CodecConfig; \
CodecConfig.small(num_filters=24, num_quantizers=8).to_json_file(sys.argv[1])" "$runs/codec_v2_config.json"
  resume=()
  ls -d "$runs/codec_v2/checkpoint-"* >/dev/null 2>&1 && resume=(--resume_from_checkpoint latest)
  nice -n 5 $py training_scripts/train_codec.py --dataset "$corpus" --config "$runs/codec_v2_config.json" \
    --output_dir "$runs/codec_v2" --max_train_steps 20000 --max_train_minutes "${CODEC_MINUTES:-60}" \
    --train_batch_size 8 --segment_seconds 1.0 --learning_rate 1e-3 --adversarial_start_step 3000 --l1_weight 1.0 \
    --mel_weight 0.5 --adversarial_weight 1.0 --feature_matching_weight 1.0 --checkpointing_steps 500 \
    --checkpoints_total_limit 20 --eval_steps 500 --max_eval_clips 48 --logging_steps 50 --num_audio_samples 4 \
    --seed 0 --num_threads 1 "${resume[@]}"
fi

if [[ $step == lm || $step == all ]]; then
  codec="${CODEC:-src/hf_audiogen/pretrained/sfx-codec-small}"
  out="$runs/lm_v2"
  if [ ! -f "$out/tokens/DONE" ]; then
    nice -n 5 $py training_scripts/tokenize_audiogen_dataset.py --dataset "$corpus" --codec "$codec" \
      --output_dir "$out/tokens" --num_threads 1
    touch "$out/tokens/DONE"
  fi
  resume=()
  ls -d "$out/audiogen/checkpoint-"* >/dev/null 2>&1 && resume=(--resume_from_checkpoint latest)
  nice -n 5 $py training_scripts/train_audiogen.py --token_shards "$out/tokens" --codec "$codec" --text_encoder minilm \
    --decoder_preset small --hidden_size 192 --num_layers 4 --num_heads 4 --ffn_dim 768 --max_duration 5 \
    --segment_seconds 2 --output_dir "$out/audiogen" --max_train_steps 20000 --max_train_minutes "${LM_MINUTES:-32}" \
    --train_batch_size 16 --learning_rate 1e-3 --lr_warmup_steps 100 --eval_steps 100 --checkpointing_steps 200 \
    --checkpoints_total_limit 1 --sample_steps 100000 --num_samples 0 --normalize_captions --use_ema --dropout 0.1 \
    --load_best_model_at_end --num_threads 1 --logging_steps 25 --seed 0 "${resume[@]}"
fi
