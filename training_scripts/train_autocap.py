#!/usr/bin/env python
"""Train AutoCap (audio captioning with metadata) in two stages, as the paper (§3.1, §4.1).

The training loop lives in ``hf_audiogen.training.autocap`` (tested there); this script only parses the options.
Runs unchanged on one process or under ``accelerate launch``. Each stage saves a directory that
``AutoCapPipeline.from_pretrained`` loads (config, weights, tokenizer, processor).

Examples:

    # stage 1: a new model from pretrained BART (and HTSAT / CLAP towers converted to transformers, if available);
    # BART and the audio encoders frozen, the Q-Former, projections and tag embeddings trained
    python training_scripts/train_autocap.py --stage 1 --model_preset reference --bart_model path/to/bart-base \\
        --audio_encoder path/to/htsat --clap_model path/to/clap-htsat-base \\
        --dataset data/weakly_labelled --metadata_column title --metadata_column video_caption \\
        --output_dir outputs/autocap-stage1 --learning_rate 1e-4 --lr_scheduler cosine --lr_warmup_steps 2000 \\
        --max_train_steps 100000 --train_batch_size 128 --eval_steps 2000 --checkpointing_steps 2000

    # stage 2: fine-tune BART too (its word embeddings stay frozen) on the target captions
    python training_scripts/train_autocap.py --stage 2 --init_from outputs/autocap-stage1 \\
        --dataset data/audiocaps --metadata_column title --metadata_column video_caption \\
        --output_dir outputs/autocap-stage2 --learning_rate 1e-5 --lr_scheduler cosine --max_train_steps 20000

    # a CPU-sized run on the offline SFX corpus, its original file names as the title metadata
    python training_scripts/train_autocap.py --stage 1 --model_preset small --tokenizer path/to/bart-tokenizer \\
        --dataset data_cache/sfx_corpus --metadata_column title=original_caption --output_dir outputs/autocap-sfx-1 \\
        --max_train_steps 300 --train_batch_size 8 --learning_rate 1e-3 --num_threads 2
"""

import sys

from accelerate import PartialState

from hf_audiogen.training.autocap import main

if __name__ == "__main__":
    result = main(sys.argv[1:])
    if not PartialState().is_main_process:  # one summary per run, not per process
        sys.exit(0)
    print(f"step {result.global_step}: loss {result.first_loss:.4f} (first step) -> {result.last_loss:.4f} (last)")
    if result.evaluation is not None:
        e = result.evaluation
        print(
            f"held-out: loss {e['val_loss']:.4f}, BLEU-1 {e['bleu_1']:.4f}, BLEU-4 {e['bleu_4']:.4f}, "
            f"ROUGE-L {e['rouge_l']:.4f}, CIDEr-D {e['cider_d']:.4f}"
        )
    print(f"model saved to {result.output_dir}")
