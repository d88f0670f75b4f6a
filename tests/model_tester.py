"""A shared model tester (the idea of transformers' ``ModelTesterMixin``): properties every model class must have.

A per-model test class inherits ``ModelTesterMixin`` and gives three methods:

* ``build_model()``: a tiny, seeded model in eval mode (tests/factories.py);
* ``build_inputs(batch_size)``: keyword inputs for ``forward``, deterministic, row ``i`` the same for any batch size;
* ``forward(model, inputs)``: the output tensor to compare (batch first).

The properties:

1. ``save_pretrained`` -> ``from_pretrained`` gives the same state dict and bit-identical outputs;
2. batching: the outputs of a batch of 2 equal those of each item alone (``batch_atol``; set ``batch_independent`` to
   a reason string to skip for a model that is not batch independent);
3. eval mode is deterministic: two forward passes are bit identical;
4. gradients of a scalar loss (a fixed random projection of the output, computed in training mode when
   ``grad_in_train_mode``) reach every trainable parameter; ``grad_exclusions`` maps a regex of parameter names to the
   documented reason they get none (each pattern must still match a parameter without gradient);
5. ``.to(torch.float64)`` works, outputs float64 and matches float32 within ``float64_rtol`` / ``float64_atol``;
6. gradient checkpointing, where the class supports it: outputs and gradients equal with and without (training mode,
   same seed: the recomputation must replay the dropout masks).
"""

import re

import pytest
import torch


def _floating_inputs_to(inputs: dict, dtype: torch.dtype) -> dict:
    return {k: v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in inputs.items()}


def _row(inputs: dict, index: int, batch_size: int) -> dict:
    """Item ``index`` of a batch, kept batch-first: every tensor whose first dimension is the batch is sliced."""
    return {
        k: v[index : index + 1] if isinstance(v, torch.Tensor) and v.ndim and v.shape[0] == batch_size else v
        for k, v in inputs.items()
    }


def _supports_gradient_checkpointing(model) -> bool:
    # transformers: ``supports_gradient_checkpointing``; diffusers' ModelMixin: ``_supports_gradient_checkpointing``.
    return bool(getattr(model, "supports_gradient_checkpointing", False)) or bool(
        getattr(model, "_supports_gradient_checkpointing", False)
    )


def _enable_gradient_checkpointing(model) -> None:
    # What the training scripts call: transformers' gradient_checkpointing_enable, diffusers' enable_...
    if hasattr(model, "enable_gradient_checkpointing"):
        model.enable_gradient_checkpointing()
    else:
        model.gradient_checkpointing_enable()


class ModelTesterMixin:
    batch_size = 2
    batch_independent: bool | str = True  # or the reason the model is not batch independent
    batch_atol = 1e-5
    float64_rtol = 1e-3
    float64_atol = 1e-4
    grad_in_train_mode = True
    grad_exclusions: dict[str, str] = {}  # parameter-name regex -> why it gets no gradient from the forward

    # --- per model ------------------------------------------------------------------------------------------------
    def build_model(self):
        raise NotImplementedError

    def build_inputs(self, batch_size: int) -> dict:
        raise NotImplementedError

    def forward(self, model, inputs: dict) -> torch.Tensor:
        raise NotImplementedError

    # --- helpers --------------------------------------------------------------------------------------------------
    def _output(self, model, inputs, grad: bool = False) -> torch.Tensor:
        with torch.set_grad_enabled(grad):
            return self.forward(model, inputs)

    def _loss(self, output: torch.Tensor) -> torch.Tensor:
        """A fixed random projection of the output: unlike a plain sum it has a gradient through normalisations."""
        weights = torch.randn(output.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        return (output.double() * weights).sum()

    def _grads(self, model, inputs) -> tuple[torch.Tensor, dict]:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(0)  # the same dropout masks in every call (checkpointing must replay them)
        output = self._output(model, inputs, grad=True)
        self._loss(output).backward()
        grads = {name: p.grad for name, p in model.named_parameters() if p.requires_grad}
        return output.detach(), grads

    # --- 1. save / load -------------------------------------------------------------------------------------------
    def test_save_load_round_trip(self, tmp_path):
        model = self.build_model()
        inputs = self.build_inputs(self.batch_size)
        model.save_pretrained(tmp_path)
        loaded = type(model).from_pretrained(tmp_path)
        assert not loaded.training, "from_pretrained must return an eval-mode model"
        expected, actual = model.state_dict(), loaded.state_dict()
        assert sorted(actual) == sorted(expected)
        different = [k for k in expected if not torch.equal(expected[k], actual[k])]
        assert not different, f"state dict entries changed by save/load: {different}"
        assert torch.equal(self._output(loaded, inputs), self._output(model, inputs))

    # --- 2. batching ----------------------------------------------------------------------------------------------
    def test_batching_equivalence(self):
        if self.batch_independent is not True:
            pytest.skip(f"not batch independent: {self.batch_independent}")
        model = self.build_model()
        inputs = self.build_inputs(self.batch_size)
        batched = self._output(model, inputs)
        for i in range(self.batch_size):
            alone = self._output(model, _row(inputs, i, self.batch_size))
            torch.testing.assert_close(batched[i : i + 1], alone, rtol=0, atol=self.batch_atol)

    # --- 3. determinism -------------------------------------------------------------------------------------------
    def test_eval_mode_is_deterministic(self):
        model = self.build_model()
        assert not model.training, "build_model must return an eval-mode model"
        inputs = self.build_inputs(self.batch_size)
        assert torch.equal(self._output(model, inputs), self._output(model, inputs))

    # --- 4. gradients ---------------------------------------------------------------------------------------------
    def test_gradients_reach_every_trainable_parameter(self):
        model = self.build_model().train(self.grad_in_train_mode)
        _, grads = self._grads(model, self.build_inputs(self.batch_size))
        assert grads, "the model has no trainable parameter"
        no_grad = [name for name, g in grads.items() if g is None or not g.any()]
        nonfinite = [name for name, g in grads.items() if g is not None and not torch.isfinite(g).all()]
        assert not nonfinite, f"non-finite gradients: {nonfinite}"
        excluded = {name for name in no_grad for pattern in self.grad_exclusions if re.search(pattern, name)}
        assert not sorted(set(no_grad) - excluded), f"parameters without gradient: {sorted(set(no_grad) - excluded)}"
        stale = [p for p in self.grad_exclusions if not any(re.search(p, name) for name in no_grad)]
        assert not stale, f"grad_exclusions that no longer match a parameter without gradient: {stale}"

    # --- 5. float64 -----------------------------------------------------------------------------------------------
    def test_float64_round_trip(self):
        model = self.build_model()
        inputs = self.build_inputs(self.batch_size)
        expected = self._output(model, inputs)
        model = model.to(torch.float64)
        assert all(p.dtype == torch.float64 for p in model.parameters())
        actual = self._output(model, _floating_inputs_to(inputs, torch.float64))
        if expected.is_floating_point():
            assert actual.dtype == torch.float64, f"float64 model gave {actual.dtype} outputs"
        torch.testing.assert_close(actual.to(expected.dtype), expected, rtol=self.float64_rtol, atol=self.float64_atol)

    # --- 6. gradient checkpointing --------------------------------------------------------------------------------
    def test_gradient_checkpointing_equivalence(self):
        model = self.build_model()
        if not _supports_gradient_checkpointing(model):
            pytest.skip(f"{type(model).__name__} does not support gradient checkpointing")
        inputs = self.build_inputs(self.batch_size)
        model.train()
        output, grads = self._grads(model, inputs)
        _enable_gradient_checkpointing(model)
        model.train()
        checkpointed_output, checkpointed_grads = self._grads(model, inputs)
        assert torch.equal(checkpointed_output, output)
        assert checkpointed_grads.keys() == grads.keys()
        for name, grad in grads.items():
            other = checkpointed_grads[name]
            assert (grad is None) == (other is None), f"{name}: gradient present in only one run"
            if grad is not None:
                torch.testing.assert_close(other, grad, rtol=0, atol=0, msg=lambda m, n=name: f"{n}: {m}")
