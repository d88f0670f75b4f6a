#!/usr/bin/env python
"""Train GenAU's 1D-VAE (log-mel KL autoencoder) with reconstruction, KL and adversarial losses.

The training loop lives in ``hf_audiogen.training.genau_vae`` (tested there); this script only parses the options.
Runs unchanged on one process or under ``accelerate launch``. ``--help`` lists every option. The VAE is saved to
``OUTPUT_DIR/final`` (and the best one on the validation split to ``OUTPUT_DIR/best``) with ``save_pretrained``,
its ``scaling_factor`` set from the first training batch.

Small CPU run on the SFX corpus (the `small` preset, 4.2M parameters; 1.28 s crops; discriminator from step 1500):

    python training_scripts/train_vae.py --dataset data_cache/sfx_corpus --config small \\
        --output_dir outputs/genau-vae-run1 --max_train_steps 3000 --max_train_minutes 19 --train_batch_size 8 \\
        --segment_seconds 1.28 --learning_rate 2e-4 --disc_start 1500 --kl_weight 1000 \\
        --checkpointing_steps 250 --checkpoints_total_limit 2 --eval_steps 250 --logging_steps 25 --seed 0 \\
        --num_threads 1

The reference recipe (`genau` preset, 10.24 s, discriminator from step 20001), on GPUs:

    accelerate launch training_scripts/train_vae.py --dataset DATA --config genau --output_dir runs/vae \\
        --max_train_steps 400000 --train_batch_size 4 --learning_rate 8e-6 --resume_from_checkpoint latest
"""

import sys

from hf_audiogen.training.genau_vae import main

if __name__ == "__main__":
    result = main(sys.argv[1:])
    if result.is_main_process:
        history = result.evaluations
        summary = f"step {result.global_step}: VAE saved to {result.output_dir / 'final'}"
        if history.last is not None:
            summary += (
                f"; held-out mel L1 {history.first:.4f} -> {history.last:.4f} (best {history.best:.4f} at "
                f"step {history.best_step})"
            )
        print(f"{summary}; scaling_factor {result.scaling_factor:.4f}")
