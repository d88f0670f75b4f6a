#!/usr/bin/env python
"""Train Audio-Journey's wide-channel U-Net (latent diffusion in a codec's space) on precomputed codec codes.

The training loop lives in ``hf_audiogen.training.audio_journey`` (tested there); this script only parses the
options. Runs unchanged on one process or under ``accelerate launch``; ``--help`` lists every option. The output
directory is a complete ``AudioJourneyPipeline`` (``AudioJourneyPipeline.from_pretrained(OUTPUT_DIR)``), or with
``--lora`` a LoRA adapter for the ``--init_from`` pipeline (``pipe.load_lora_weights(OUTPUT_DIR)``).

First store the codes (once), then train. A small CPU run on the SFX corpus with the bundled codec (D = 64) and the
offline all-MiniLM-L6-v2 encoder:

    python training_scripts/tokenize_audiogen_dataset.py --dataset data_cache/sfx_corpus \\
        --codec src/hf_audiogen/pretrained/sfx-codec-small --output_dir data_cache/sfx_tokens --splits train validation
    python training_scripts/train_audio_journey.py --token_shards data_cache/sfx_tokens \\
        --output_dir outputs/audio-journey --text_encoder minilm --segment_seconds 2 --train_batch_size 16 \\
        --learning_rate 3e-4 --lr_warmup_steps 100 --max_train_steps 3000 --max_train_minutes 22 \\
        --eval_steps 250 --sample_every 1000 --checkpointing_steps 250 --checkpoints_total_limit 1 --use_ema \\
        --num_threads 1

The paper's setting (EnCodec D = 128, T5, 504-frame latents as 21 x 24 images) on GPUs: tokenise with an EnCodec
directory, then ``--text_encoder google-t5/t5-base --image_width 24 --segment_seconds 6.72 --mixed_precision bf16``.

LoRA fine-tuning of a trained pipeline on new data:

    python training_scripts/train_audio_journey.py --init_from outputs/audio-journey --lora --lora_rank 8 \\
        --token_shards NEW_TOKENS --output_dir outputs/audio-journey-lora --max_train_steps 500
"""

import sys

from hf_audiogen.training.audio_journey import main

if __name__ == "__main__":
    result = main(sys.argv[1:])
    if result.is_main_process:
        summary = f"step {result.global_step}: saved to {result.output_dir}"
        if result.evaluation is not None:
            first = f"{result.first_evaluation.loss:.4f} -> " if result.first_evaluation is not None else ""
            summary += f"; held-out loss {first}{result.evaluation.loss:.4f}"
        print(summary)
