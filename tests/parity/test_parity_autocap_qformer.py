"""AutoCap Q-Former parity: the reference LAVIS BLIP-2 Q-Former (as AutoCap configures and runs it) vs
``transformers.Blip2QFormerModel`` loaded through our converter's key mapping, same random weights and inputs.

Two copies of the reference code, each imported alone from its file (no package ``__init__`` runs, nothing is
copied into hf_audiogen):

* ``lavis``: ``lavis/models/blip2_models/Qformer.py`` of PyPI ``salesforce-lavis`` (``pip install --no-deps
  salesforce-lavis==1.0.2``: only this file is used, so none of its heavy dependencies is needed);
* ``autocap``: ``AutoCap/src/modules/qformer/Qformer.py`` of a snap-research/GenAU checkout named by ``GENAU_REPO`` —
  the file AutoCap actually runs. It is the LAVIS file plus one line that clamps attention scores to [-100, 100]
  (inactive here: the scores of these inputs stay far below; a trained model could differ where they do not).

Both were written for transformers 4.x; under transformers 5 three things they use are gone, and are shimmed for
the import only: ``apply_chunking_to_forward`` / ``prune_linear_layer`` / ``find_pruneable_heads_and_indices`` in
``transformers.modeling_utils``, ``init_weights()`` before ``post_init()`` in ``__init__``, and
``invert_attention_mask`` / ``get_head_mask`` on ``PreTrainedModel`` (v4 semantics).
Run: ``[GENAU_REPO=/path/to/GenAU] .venv/bin/python -m pytest tests/parity/test_parity_autocap_qformer.py``.
"""

import contextlib
import copy
import importlib.util
import os
from pathlib import Path

import pytest
import torch
import transformers.modeling_utils
from transformers import Blip2QFormerModel, PreTrainedModel, pytorch_utils

from hf_audiogen.autocap import AutoCapConfig
from hf_audiogen.autocap.convert_autocap import convert_qformer_state_dict

pytestmark = pytest.mark.parity


def _lavis_file() -> Path | None:
    spec = importlib.util.find_spec("lavis")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "blip2_models" / "Qformer.py"
    return path if path.is_file() else None


def _autocap_file() -> Path | None:
    repo = os.environ.get("GENAU_REPO")
    path = Path(repo) / "AutoCap" / "src" / "modules" / "qformer" / "Qformer.py" if repo else None
    return path if path is not None and path.is_file() else None


SOURCES = {
    "lavis": (_lavis_file, "install the reference LAVIS Q-Former: pip install --no-deps salesforce-lavis==1.0.2"),
    "autocap": (_autocap_file, "set GENAU_REPO to a snap-research/GenAU checkout (with AutoCap/src/modules/qformer)"),
}
if not any(find() for find, _ in SOURCES.values()):
    pytest.skip(
        "no reference Q-Former: " + "; or ".join(reason for _, reason in SOURCES.values()), allow_module_level=True
    )


def _find_pruneable_heads_and_indices(heads, n_heads, head_size, already_pruned):
    """transformers 4.x helper the file imports (only its head-pruning method, never called here, uses it)."""
    mask = torch.ones(n_heads, head_size)
    heads = set(heads) - already_pruned
    for head in heads:
        mask[head - sum(1 for h in already_pruned if h < head)] = 0
    return heads, torch.arange(len(mask.view(-1)))[mask.view(-1).eq(1)].long()


@contextlib.contextmanager
def _transformers_4_names():
    """Put the helpers the file imports from ``transformers.modeling_utils`` there while it is imported."""
    helpers = {
        "apply_chunking_to_forward": pytorch_utils.apply_chunking_to_forward,
        "prune_linear_layer": pytorch_utils.prune_linear_layer,
        "find_pruneable_heads_and_indices": _find_pruneable_heads_and_indices,
    }
    added = [name for name in helpers if not hasattr(transformers.modeling_utils, name)]
    for name in added:
        setattr(transformers.modeling_utils, name, helpers[name])
    try:
        yield
    finally:
        for name in added:
            delattr(transformers.modeling_utils, name)


def _init_weights(self):
    """v4 models call ``init_weights()`` in ``__init__``; v5's needs ``post_init()`` first (which calls it back)."""
    if not hasattr(self, "all_tied_weights_keys"):
        self.post_init()
    else:
        PreTrainedModel.init_weights(self)


def _invert_attention_mask(self, mask):
    """transformers 4.x ``ModuleUtilsMixin.invert_attention_mask``: 1 = keep -> 0, 0 = masked -> dtype minimum."""
    extended = mask[:, None, :, :] if mask.dim() == 3 else mask[:, None, None, :]
    extended = extended.to(dtype=self.dtype)
    return (1.0 - extended) * torch.finfo(self.dtype).min


def _get_head_mask(self, head_mask, num_hidden_layers):
    """transformers 4.x ``get_head_mask`` for the only case used here (no head mask)."""
    assert head_mask is None, "the parity test passes no head mask"
    return [None] * num_hidden_layers


def _import_reference(name: str):
    path = SOURCES[name][0]()
    if path is None:
        pytest.skip(SOURCES[name][1])
    spec = importlib.util.spec_from_file_location(f"reference_qformer_{name}", path)
    module = importlib.util.module_from_spec(spec)
    with _transformers_4_names():
        spec.loader.exec_module(module)
    base = module.BertPreTrainedModel
    if hasattr(PreTrainedModel, "get_expanded_tied_weights_keys"):  # transformers 5 (4.x needs no init shim)
        base.init_weights = _init_weights
    for attribute, shim in (("invert_attention_mask", _invert_attention_mask), ("get_head_mask", _get_head_mask)):
        if not hasattr(base, attribute):
            setattr(base, attribute, shim)
    return module


def reference_qformer(module, config: AutoCapConfig):
    """The Q-Former as ``AutoCap.init_audio_Qformer`` builds it (bert-base-uncased's BertConfig with AutoCap's
    overrides; ``BertConfig()`` has bert-base-uncased's values and needs no download), with the parts AutoCap removes
    set to None, and random weights (LayerNorm gains around 1, every bias non-zero)."""
    qformer = config.qformer_config
    bert = module.BertConfig()
    bert.vocab_size, bert.max_position_embeddings = 50265, 1024
    bert.num_hidden_layers, bert.num_attention_heads = qformer.num_hidden_layers, qformer.num_attention_heads
    bert.hidden_size, bert.encoder_width = qformer.hidden_size, config.text_config.d_model
    bert.add_cross_attention, bert.cross_attention_freq = True, qformer.cross_attention_frequency
    bert.query_length = config.num_query_tokens
    model = module.BertLMHeadModel(config=bert)
    model.cls = None
    model.bert.embeddings.word_embeddings = None
    model.bert.embeddings.position_embeddings = None
    for layer in model.bert.encoder.layer:
        layer.output = None
        layer.intermediate = None
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            parameter.copy_(1.0 + 0.1 * noise if name.endswith("LayerNorm.weight") else 0.05 * noise)
    return model.eval()


@pytest.fixture(scope="module", params=list(SOURCES))
def models(request):
    """(source name, reference Q-Former, ours with the converted weights), both float64, built once per source."""
    torch.manual_seed(0)
    config = AutoCapConfig()  # the reference's: 2 layers, width 256, 8 heads, FFN 3072, 256 queries, frames of 768
    reference = reference_qformer(_import_reference(request.param), config).double()
    ours = Blip2QFormerModel(config.qformer_config).eval()
    ours.load_state_dict(convert_qformer_state_dict(reference.state_dict()), strict=True)
    return request.param, reference, ours.double()


@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_qformer_matches_the_reference(models, dtype, tolerance):
    source, reference, ours = models
    reference, ours = copy.deepcopy(reference).to(dtype), copy.deepcopy(ours).to(dtype)  # .to() works in place
    queries, width = ours.config.hidden_size, ours.config.encoder_hidden_size
    generator = torch.Generator().manual_seed(1)
    # LayerNorm'd frame features; 256 frames rather than AutoCap's 1024 to keep the test fast (any number works).
    frames = torch.randn(2, 256, width, generator=generator, dtype=dtype)
    queries = torch.randn(1, 256, queries, generator=generator, dtype=dtype).expand(2, -1, -1)
    with torch.no_grad():
        # As AutoCap.encode_audioQformer_audio calls it.
        expected = reference.bert(
            query_embeds=queries,
            encoder_hidden_states=frames,
            encoder_attention_mask=torch.ones(frames.shape[:2], dtype=torch.long),
            return_dict=True,
        ).last_hidden_state
        got = ours(query_embeds=queries, encoder_hidden_states=frames).last_hidden_state
    assert got.shape == expected.shape == (2, 256, ours.config.hidden_size)
    difference = (got - expected).abs().max().item()
    print(
        f"\n{source} Q-Former vs Blip2QFormerModel ({dtype}): max |diff| {difference:.3g}, "
        f"output scale {expected.abs().max().item():.3g}"
    )
    assert difference < tolerance
