#!/usr/bin/env python
"""Train the neural audio codec (SEANet + RVQ) on an audio dataset with reconstruction and adversarial losses.

The training loop lives in ``hf_audiogen.training.codec`` (tested there); this script only parses the options.
Runs unchanged on one process or under ``accelerate launch``. ``--help`` lists every option.

The bundled codec (``src/hf_audiogen/pretrained/sfx-codec-small``; CPU, 19 minutes, reconstruction losses only):

    python training_scripts/train_codec.py --dataset data_cache/sfx_corpus --config small \\
        --output_dir runs/sfx-codec-small --max_train_steps 5000 --max_train_minutes 19 --train_batch_size 8 \\
        --segment_seconds 1.0 --learning_rate 1e-3 --l1_weight 1.0 --mel_weight 0.5 --adversarial_start_step 5000 \\
        --checkpointing_steps 200 --checkpoints_total_limit 2 --eval_steps 200 --logging_steps 20 --seed 0 \\
        --num_threads 1

audiocraft's recipe (adversarial from the start, loss weights adv 4, feat 4, L1 0.1, mel 2 — the defaults), on GPUs:

    accelerate launch training_scripts/train_codec.py --dataset DATA --config small --output_dir runs/codec \\
        --max_train_steps 100000 --train_batch_size 16 --mixed_precision bf16 --resume_from_checkpoint latest
"""

import sys

from hf_audiogen.training.codec import main

if __name__ == "__main__":
    result = main(sys.argv[1:])
    if result.is_main_process:
        summary = f"step {result.global_step}: codec saved to {result.output_dir}"
        if result.evaluation is not None:
            summary += (
                f"; held-out SI-SNR {result.evaluation.si_snr:.2f} dB, "
                f"mel distance {result.evaluation.mel_distance:.4f}"
            )
        print(summary)
