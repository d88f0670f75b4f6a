#!/usr/bin/env python
"""Fine-tune a trained AudioGen model with LoRA adapters on its decoder; save the adapter alone.

LoRA (peft) adapters go on the decoder blocks' attention projections (self- and cross-attention q/k/v/out) and
feed-forward linears (``--lora_targets``); the text encoder, the codec and the base decoder weights stay frozen.
``--output_dir`` receives ``adapter_config.json`` + ``adapter_model.safetensors`` (plus logs, samples and
checkpoints of the run). Use it with

    pipe = AudioGenPipeline.from_pretrained("outputs/audiogen-sfx")
    pipe.load_lora("outputs/audiogen-sfx-lora")   # or AudioGenPipeline.from_pretrained("outputs/audiogen-sfx-lora")
    pipe.merge_lora()                              # optional: fold it into the weights

Example:

    python training_scripts/finetune_lora.py --model outputs/audiogen-sfx --dataset data_cache/my_sounds \\
        --output_dir outputs/audiogen-sfx-lora --max_train_steps 500 --lora_rank 8 --learning_rate 1e-4
"""

import sys

from accelerate import PartialState

from hf_audiogen.training.audiogen import main_lora

if __name__ == "__main__":
    result = main_lora(sys.argv[1:])
    if not PartialState().is_main_process:  # one summary per run, not per process
        sys.exit(0)
    print(f"step {result.global_step}: loss {result.first_loss:.4f} (first step) -> {result.last_loss:.4f} (last)")
    if result.evaluation is not None:
        e = result.evaluation
        print(f"held-out NLL {e.nll:.4f} nats/code (unigram baseline {e.unigram_nll:.4f})")
    print(f"adapter saved to {result.output_dir}")
