#!/usr/bin/env python
"""Train GenAU's HiFi-GAN vocoder (log-mel -> 16 kHz waveform) with multi-period/multi-scale discriminators.

The training loop lives in ``hf_audiogen.training.genau_vocoder`` (tested there); this script only parses the
options. Runs unchanged on one process or under ``accelerate launch``. ``--help`` lists every option. The generator
is saved to ``OUTPUT_DIR/final`` (and the best one on the validation split to ``OUTPUT_DIR/best``) as a plain
``transformers.SpeechT5HifiGan`` (weight norm folded in).

Small CPU run on the SFX corpus (the `small` preset = HiFi-GAN V2 width, 0.9M parameters; discriminators at 1/4
width; 0.512 s segments):

    python training_scripts/train_vocoder.py --dataset data_cache/sfx_corpus --config small \\
        --output_dir outputs/genau-vocoder-run1 --max_train_steps 2000 --max_train_minutes 19 \\
        --train_batch_size 8 --segment_seconds 0.512 --discriminator_channel_divisor 4 \\
        --checkpointing_steps 200 --checkpoints_total_limit 2 --eval_steps 200 --logging_steps 20 --seed 0 \\
        --num_threads 1

HiFi-GAN V1's recipe (the `genau` preset, full discriminators, lr 2e-4, batch 16), on GPUs:

    accelerate launch training_scripts/train_vocoder.py --dataset DATA --config genau --output_dir runs/vocoder \\
        --max_train_steps 500000 --resume_from_checkpoint latest
"""

import sys

from hf_audiogen.training.genau_vocoder import main

if __name__ == "__main__":
    result = main(sys.argv[1:])
    if result.is_main_process:
        history = result.evaluations
        summary = f"step {result.global_step}: vocoder saved to {result.output_dir / 'final'}"
        if history.last is not None:
            summary += (
                f"; held-out mel L1 of resynthesis {history.first:.4f} -> {history.last:.4f} (best "
                f"{history.best:.4f} at step {history.best_step})"
            )
        print(summary)
