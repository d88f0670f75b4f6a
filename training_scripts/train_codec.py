#!/usr/bin/env python
"""Train the neural audio codec (SEANet + RVQ) on an audio dataset with reconstruction and adversarial losses.

The training loop lives in ``hf_audiogen.training.codec`` (tested there); this script only parses the options.
Runs unchanged on one process or under ``accelerate launch``.

Example (the bundled codec, CPU, reconstruction-only for the first 1500 steps):

    python training_scripts/train_codec.py --dataset data_cache/sfx_corpus --config small \\
        --output_dir runs/sfx-codec-small --max_train_steps 2000 --train_batch_size 8 --segment_seconds 1 \\
        --adversarial_start_step 1500 --checkpointing_steps 250 --checkpoints_total_limit 2 --eval_steps 250 \\
        --num_threads 2

    accelerate launch training_scripts/train_codec.py ... --mixed_precision bf16 --resume_from_checkpoint latest
"""

import sys

from hf_audiogen.training.codec import main

if __name__ == "__main__":
    result = main(sys.argv[1:])
    if result.evaluation is not None:
        print(f"step {result.global_step}: held-out SI-SNR {result.evaluation.si_snr:.2f} dB, "
              f"mel distance {result.evaluation.mel_distance:.4f}; codec saved to {result.output_dir}")
    else:
        print(f"step {result.global_step}: codec saved to {result.output_dir}")
