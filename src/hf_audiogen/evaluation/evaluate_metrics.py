"""The caption metrics as `evaluate` modules, for evaluation loops written around ``evaluate.load``.

Loading a metric by its Hub name (``evaluate.load("bleu")``) needs the network, and the Hub's ``bleu`` uses a
different brevity penalty from coco-caption. This package ships one local module per metric instead, in
``hf_audiogen/evaluation/metrics/<name>/<name>.py``; ``evaluate.load(<that folder>)`` works offline:

```python
>>> import evaluate
>>> from hf_audiogen.evaluation import metric_module_path
>>> cider = evaluate.load(metric_module_path("cider_d"))  # doctest: +SKIP
>>> cider.add_batch(predictions=["a dog barks"], references=[["a dog is barking", "dogs bark"]])  # doctest: +SKIP
>>> cider.compute()  # doctest: +SKIP
{'cider_d': 0.0}
```

Each module is a few lines subclassing :class:`CaptionMetric`, which does the work with
:func:`~hf_audiogen.evaluation.caption_metrics.compute_caption_metrics`.
"""

from __future__ import annotations

import datasets
import evaluate

from .caption_metrics import compute_caption_metrics

_CITATIONS = {
    "bleu": "Papineni et al., BLEU: a Method for Automatic Evaluation of Machine Translation, ACL 2002.",
    "meteor": "Lavie & Agarwal, METEOR: An Automatic Metric for MT Evaluation with High Levels of Correlation with "
    "Human Judgments, WMT 2007.",
    "rouge_l": "Lin, ROUGE: A Package for Automatic Evaluation of Summaries, 2004.",
    "cider_d": "Vedantam et al., CIDEr: Consensus-based Image Description Evaluation, CVPR 2015.",
    "spice": "Anderson et al., SPICE: Semantic Propositional Image Caption Evaluation, ECCV 2016.",
    "spider": "Liu et al., Improved Image Captioning via Policy Gradient optimization of SPIDEr, ICCV 2017.",
}

_INPUTS = """
Args:
    predictions (`list[str]`): one predicted caption per item.
    references (`list[list[str]]` or `list[str]`): the reference caption(s) of each item.
    tokenize (`bool`, defaults to True): PTB-style tokenisation as coco-caption (False: already tokenised text).
    return_per_item (`bool`, defaults to False): also return `<name>_per_item` lists.
    meteor_jar, spice_jar, java (*optional*): where the Java programs are (METEOR / SPICE / SPIDEr only).
Returns:
    `dict[str, float]` with the names of `hf_audiogen.evaluation.compute_caption_metrics`.
"""


class CaptionMetric(evaluate.Metric):
    """Base of the caption metric modules: ``metrics`` names what :func:`compute_caption_metrics` computes."""

    metrics: tuple[str, ...] = ()
    description: str = ""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.description,
            citation="\n".join(_CITATIONS[name] for name in self.metrics if name in _CITATIONS),
            inputs_description=_INPUTS,
            features=[
                datasets.Features(
                    {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
                ),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
            codebase_urls=["https://github.com/tylin/coco-caption"],
        )

    def _compute(
        self,
        predictions,
        references,
        tokenize: bool = True,
        return_per_item: bool = False,
        meteor_jar=None,
        spice_jar=None,
        java=None,
        metrics=None,
    ) -> dict:
        return compute_caption_metrics(
            predictions,
            references,
            metrics=metrics if metrics is not None else self.metrics,
            tokenize=tokenize,
            return_per_item=return_per_item,
            meteor_jar=meteor_jar,
            spice_jar=spice_jar,
            java=java,
        )


__all__ = ["CaptionMetric"]
