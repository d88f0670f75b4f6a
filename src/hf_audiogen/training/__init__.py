"""What the training scripts share: options, learning-rate schedules, checkpoints with exact resume, progress logs,
the loop pieces all families share (``training.loop``: Accelerator setup, exact-resume epochs, time budget), and
one module per model family holding its training loop (``training.codec``), so that the scripts in
``training_scripts/`` stay thin and the loops are tested like library code.

Submodules are imported on demand (``from hf_audiogen.training.checkpointing import ...``): a family's loop pulls in
that family's models, which other scripts do not need.
"""
