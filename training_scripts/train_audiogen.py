#!/usr/bin/env python
"""Train the AudioGen language model over a frozen codec and a frozen text encoder (AudioGen paper §3.2, §4.1).

The training loop lives in ``hf_audiogen.training.audiogen`` (tested there); this script only parses the options.
Runs unchanged on one process or under ``accelerate launch``. The final model is saved in ``--output_dir`` as a
directory that ``AudioGenPipeline.from_pretrained`` loads (config, weights, tokenizer, processor).

Examples:

    # a new model: the small codec + the offline MiniLM text encoder + a small decoder, codes computed on the fly
    python training_scripts/train_audiogen.py --dataset data_cache/sfx_corpus \\
        --codec src/hf_audiogen/pretrained/sfx-codec-small --text_encoder minilm --decoder_preset small \\
        --max_duration 5 --output_dir outputs/audiogen-sfx --max_train_steps 2000 --train_batch_size 16 \\
        --lr_warmup_steps 200 --eval_steps 250 --checkpointing_steps 250 --checkpoints_total_limit 2 \\
        --mixing_p 0.5 --normalize_captions --use_ema --num_threads 2

    # from pre-tokenised shards (tokenize_audiogen_dataset.py), continuing a saved model
    python training_scripts/train_audiogen.py --token_shards data_cache/sfx_tokens \\
        --init_from outputs/audiogen-sfx --output_dir outputs/audiogen-sfx-2 --max_train_steps 1000

    accelerate launch --multi_gpu --num_processes 8 training_scripts/train_audiogen.py ... \\
        --mixed_precision bf16 --resume_from_checkpoint latest
"""

import sys

from accelerate import PartialState

from hf_audiogen.training.audiogen import main

if __name__ == "__main__":
    result = main(sys.argv[1:])
    if not PartialState().is_main_process:  # one summary per run, not per process
        sys.exit(0)
    print(f"step {result.global_step}: loss {result.first_loss:.4f} (first step) -> {result.last_loss:.4f} (last)")
    if result.evaluation is not None:
        e = result.evaluation
        print(
            f"held-out NLL {e.nll:.4f} nats/code (perplexity {e.perplexity:.1f}); unigram baseline "
            f"{e.unigram_nll:.4f}, uniform {e.uniform_nll:.4f}; {e.num_codes} codes"
        )
    print(f"model saved to {result.output_dir}")
