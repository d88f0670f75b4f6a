"""Training steps of each family's loop, run by ``test_multiprocess_equivalence`` in 1 and 2 processes.

Each ``run_<family>`` builds the tiny model of ``factories.py`` (same seed in every process), makes the same global
batch at every step, keeps this process's rows of it (rank 0 the first ones, in order: together the processes hold
exactly the batch one process gets) and trains ``steps`` optimizer steps with the code the family's loop uses:
``accelerator.prepare`` (DDP on gloo with two processes), its loss function, ``optimizer_update``. Dropout and
condition dropout are off, so the only difference between the runs is how the batch is split.

:func:`worker` is the entry point of a spawned process; it saves the trained parameters and buffers of every
process to ``OUT_DIR/<family>-<world size>-rank<rank>.pt``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType


def _rows(accelerator: Accelerator, total: int) -> slice:
    """This process's rows of a global batch of ``total`` rows (contiguous, in rank order; may be uneven)."""
    rank, world = accelerator.process_index, accelerator.num_processes
    return slice(rank * total // world, (rank + 1) * total // world)


def _constant_scheduler(optimizer):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def _optimizer(parameters) -> torch.optim.Optimizer:
    """SGD with momentum for the language and diffusion models: they compute their losses in float32 (the
    cross-entropies on ``.float()`` logits), and Adam's first steps are ±lr wherever a gradient is close to 0, which
    turns float32 rounding of sums taken in another order into whole steps. SGD keeps the comparison about the
    gradients, which is what the processes must agree on."""
    return torch.optim.SGD(parameters, lr=0.05, momentum=0.9)


def _default_float(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to(torch.get_default_dtype()) if tensor.is_floating_point() else tensor


def _trained_state(accelerator: Accelerator, *models) -> dict[str, torch.Tensor]:
    state = {}
    for i, model in enumerate(models):
        if accelerator.distributed_type == DistributedType.FSDP:  # gathered whole on rank 0 only
            weights = accelerator.get_state_dict(model)
        else:
            weights = accelerator.unwrap_model(model).state_dict()
        for name, tensor in weights.items():
            state[f"{i}.{name}"] = tensor.detach().cpu().clone()
    return state


# ----------------------------------------------------------------------------------------------------------- codec
def codec_batch(step: int) -> dict[str, torch.Tensor]:
    """4 clips of 0.25 s: tones plus noise, different at every step (new frames for the codebook EMA)."""
    generator = torch.Generator().manual_seed(100 + step)
    t = torch.arange(4000) / 16_000
    frequencies = 200 + 800 * torch.rand(4, 1, 1, generator=generator)
    audio = 0.5 * torch.sin(2 * torch.pi * frequencies * t) + 0.1 * torch.randn(4, 1, 4000, generator=generator)
    return {"input_values": audio, "padding_mask": torch.ones(4, 4000, dtype=torch.bool)}


def run_codec(accelerator: Accelerator, steps: int) -> dict[str, torch.Tensor]:
    """The codec loop's ``_GanStep`` before ``--adversarial_start_step`` (reconstruction losses, plain weighted sum,
    commitment loss), with the quantizer's k-means init, EMA updates, dead-code replacement (threshold 4: codes do
    die) and quantizer dropout.

    Without the adversarial terms: the discriminator computes its STFT in float32 whatever the model's dtype, and
    from float32 gradients Adam's first steps are ±lr wherever a gradient is close to 0, so summing in another order
    moved some of its weights by a whole step (1-2 % of their size). It is a plain DDP module, with nothing to
    reduce across processes beyond what DDP does."""
    from hf_audiogen.codec import CodecModel
    from hf_audiogen.codec.discriminator import MultiScaleSTFTDiscriminator, MultiScaleSTFTDiscriminatorConfig
    from hf_audiogen.codec.losses import MultiScaleMelLoss
    from hf_audiogen.training.codec import DEFAULT_LOSS_WEIGHTS, _GanStep

    from factories import tiny_codec_config

    torch.manual_seed(0)
    codec = CodecModel(tiny_codec_config(threshold_ema_dead_code=4.0, quantizer_dropout=True)).train()
    discriminator = MultiScaleSTFTDiscriminator(
        MultiScaleSTFTDiscriminatorConfig(filters=2, n_ffts=[256, 128], audio_channels=1)
    ).train()  # built and prepared as in the loop, but never stepped (see above)
    optimizer_g = torch.optim.Adam(codec.parameters(), lr=1e-3, betas=(0.5, 0.9))
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.9))
    scheduler_g, scheduler_d = _constant_scheduler(optimizer_g), _constant_scheduler(optimizer_d)
    codec, discriminator, optimizer_g, optimizer_d, scheduler_g, scheduler_d = accelerator.prepare(
        codec, discriminator, optimizer_g, optimizer_d, scheduler_g, scheduler_d
    )
    # float32 buffers: the loss computes its STFT in float32 whatever the input (the gradient to y is then float32).
    mel_loss = MultiScaleMelLoss(16_000, n_mels=16, min_exponent=7, max_exponent=9).float().to(accelerator.device)
    trainer = _GanStep(
        accelerator,
        codec,
        discriminator,
        optimizer_g,
        optimizer_d,
        scheduler_g,
        scheduler_d,
        mel_loss,
        DEFAULT_LOSS_WEIGHTS,
        None,  # the plain weighted sum (see docs/multi_process_training.md for the balancer)
        1.0,
    )
    for step in range(steps):
        batch = {k: v[_rows(accelerator, 4)] for k, v in codec_batch(step).items()}
        with accelerator.accumulate(codec, discriminator):
            trainer.step(batch, adversarial=False)
    return _trained_state(accelerator, codec, discriminator)


# -------------------------------------------------------------------------------------------------------- AudioGen
CLIP_SECONDS = (0.4, 0.2, 0.32, 0.12, 0.28)  # padding in every batch, and uneven valid positions per process


def run_audiogen(accelerator: Accelerator, steps: int) -> dict[str, torch.Tensor]:
    """The AudioGen loop's step: codes from the frozen codec, teacher-forced decoder, :func:`training_loss` (token
    mean over every process's valid positions), AdamW with decay groups and clipping. 5 clips: 2 + 3 per process."""
    from hf_audiogen.training.audiogen import codes_and_labels, training_loss
    from hf_audiogen.training.loop import optimizer_update

    from factories import TINY_TEXT_SENTENCES, tiny_audiogen_model, tiny_audiogen_processor

    model = tiny_audiogen_model(seed=0, decoder={"condition_dropout": 0.0}).train()
    model.codec.eval()
    model.text_encoder.eval()
    processor = tiny_audiogen_processor()
    trainable = [p for name, p in model.named_parameters() if name.startswith("decoder.")]
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith("decoder."))
    optimizer = _optimizer(trainable)
    scheduler = _constant_scheduler(optimizer)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    raw = accelerator.unwrap_model(model)
    rows = _rows(accelerator, len(CLIP_SECONDS))
    for step in range(steps):
        generator = torch.Generator().manual_seed(200 + step)
        audio = [0.3 * torch.randn(round(s * 16_000), generator=generator).numpy() for s in CLIP_SECONDS]
        batch = processor(
            text=TINY_TEXT_SENTENCES[: len(CLIP_SECONDS)], audio=audio, sampling_rate=16_000, return_tensors="pt"
        )
        batch = {k: v[rows] for k, v in batch.items()}
        labels = codes_and_labels(raw, batch)
        with accelerator.accumulate(model):
            output = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels)
            optimizer_update(accelerator, training_loss(accelerator, output), trainable, optimizer, scheduler, 1.0)
    return _trained_state(accelerator, model)


# ----------------------------------------------------------------------------------------------------------- GenAU
def run_genau(accelerator: Accelerator, steps: int) -> dict[str, torch.Tensor]:
    """The GenAU loop's step: latents of the frozen VAE scaled by ``scale_from_latents`` (global variance, first
    step), text embeddings, ε-prediction loss averaged over every process's rows (``global_mean_loss``), AdamW.
    The noise and timesteps of the whole batch are drawn once and split like the batch. 5 clips: 2 + 3."""
    from hf_audiogen.training.genau import diffusion_loss, noise_scheduler_for, scale_from_latents
    from hf_audiogen.training.loop import global_mean_loss, optimizer_update

    from factories import TINY_TEXT_SENTENCES, tiny_genau_pipeline

    pipe = tiny_genau_pipeline(seed=0, dropout=0.0)
    transformer = pipe.transformer.train()
    if getattr(transformer, "self_conditioning_latents_projection", None) is not None:
        transformer.self_conditioning_latents_projection.requires_grad_(False)
    trainable = [p for p in transformer.parameters() if p.requires_grad]
    optimizer = _optimizer(trainable)
    scheduler = _constant_scheduler(optimizer)
    transformer, optimizer, scheduler = accelerator.prepare(transformer, optimizer, scheduler)
    noise_scheduler = noise_scheduler_for(pipe)
    rows, scale = _rows(accelerator, 5), None
    for step in range(steps):
        generator = torch.Generator().manual_seed(300 + step)
        features = torch.randn(5, 64, 64, generator=generator)
        with torch.no_grad():
            z = pipe.vae.encode(features).latent_dist.mode()
            embeds = pipe.encode_prompt(TINY_TEXT_SENTENCES[:5], accelerator.device, 1, False)[0]
        noise = torch.randn(z.shape, generator=generator)
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (5,), generator=generator)
        z, embeds, noise, timesteps = z[rows], embeds[rows], noise[rows], timesteps[rows]
        scale = scale if scale is not None else scale_from_latents(z, accelerator)
        dataset_ids = torch.zeros(z.shape[0], dtype=torch.long)
        with accelerator.accumulate(transformer):
            loss = diffusion_loss(transformer, z * scale, embeds, dataset_ids, noise_scheduler, noise, timesteps)
            loss = global_mean_loss(accelerator, loss, z.shape[0])
            optimizer_update(accelerator, loss, trainable, optimizer, scheduler, 1.0)
    state = _trained_state(accelerator, transformer)
    state["scale"] = torch.tensor(scale, dtype=torch.float64)
    return state


# --------------------------------------------------------------------------------------------------------- AutoCap
CAPTIONS = ("a dog barks", "rain falls on a tin roof in the night", "a car", "birds sing while the wind blows", "ok")


def run_autocap(accelerator: Accelerator, steps: int) -> dict[str, torch.Tensor]:
    """The AutoCap loop's step: teacher-forced caption loss averaged over every process's caption tokens
    (:func:`training_loss`; the captions differ in length), AdamW. 5 clips: 2 + 3."""
    from hf_audiogen.training.autocap import training_loss
    from hf_audiogen.training.loop import optimizer_update

    from factories import tiny_autocap_model, tiny_autocap_processor

    model = tiny_autocap_model(seed=0).train()
    processor = tiny_autocap_processor()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = _optimizer(trainable)
    scheduler = _constant_scheduler(optimizer)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    rows = _rows(accelerator, len(CAPTIONS))
    for step in range(steps):
        generator = torch.Generator().manual_seed(400 + step)
        audio = [0.3 * torch.randn(16_000, generator=generator).numpy() for _ in CAPTIONS]
        batch = processor(audio=audio, sampling_rate=16_000, text=list(CAPTIONS), return_tensors="pt")
        batch = {k: _default_float(v[rows]) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        with accelerator.accumulate(model):
            optimizer_update(
                accelerator, training_loss(accelerator, model, batch), trainable, optimizer, scheduler, 1.0
            )
    return _trained_state(accelerator, model)


RUNS = {"codec": run_codec, "audiogen": run_audiogen, "genau": run_genau, "autocap": run_autocap}


def worker(
    rank: int,
    world_size: int,
    family: str,
    port: int,
    out_dir: str,
    steps: int,
    break_codebook: bool = False,
    fsdp: bool = False,
) -> None:
    """A spawned process: join the gloo group (two processes) or stay alone (one), train, save the state.

    ``break_codebook`` makes the codebook behave as before its statistics were reduced across processes (each
    process's own counts, k-means and dead codes), to show that the comparison catches it. ``fsdp`` shards the model
    with FSDP (full sharding, as ``accelerate_configs/fsdp_multi_gpu.yaml``) instead of DDP."""
    if world_size > 1:
        os.environ.update(
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            RANK=str(rank),
            WORLD_SIZE=str(world_size),
            LOCAL_RANK=str(rank),
            LOCAL_WORLD_SIZE=str(world_size),
        )
    torch.set_num_threads(1)
    # float64 where the models allow: Adam turns a gradient near 0 into a step of ±lr, so the float32 rounding of
    # sums taken in another order (over 2 processes instead of 1) would show up as whole steps.
    torch.set_default_dtype(torch.float64)
    if break_codebook:
        from hf_audiogen.codec import modeling_codec

        modeling_codec.is_distributed = lambda: False
    plugin = None
    if fsdp:
        from accelerate import FullyShardedDataParallelPlugin

        plugin = FullyShardedDataParallelPlugin(
            sharding_strategy="FULL_SHARD",
            use_orig_params=True,
            sync_module_states=False,  # unsupported on CPU
        )
    # cpu=True: gloo on CPU; without it Accelerate would start the processes as separate single-process runs.
    accelerator = Accelerator(cpu=True, fsdp_plugin=plugin)
    assert accelerator.num_processes == world_size
    state = RUNS[family](accelerator, steps)
    suffix = "-fsdp" if fsdp else ""
    torch.save(state, Path(out_dir) / f"{family}-{world_size}{suffix}-rank{rank}.pt")
    accelerator.wait_for_everyone()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
