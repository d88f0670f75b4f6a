"""The coco-caption suite: BLEU-1..4, ROUGE-L and CIDEr-D by default (pure Python); pass ``metrics=[...]`` to
``compute()`` for METEOR / SPICE / SPIDEr too (they need Java and their jars).

Load offline with ``evaluate.load(hf_audiogen.evaluation.metric_module_path("coco_caption"))``.
"""

from hf_audiogen.evaluation import evaluate_metrics


class CocoCaption(evaluate_metrics.CaptionMetric):
    metrics = ("bleu", "rouge_l", "cider_d")
    description = "The coco-caption suite: BLEU-1..4, ROUGE-L and CIDEr-D (METEOR, SPICE, SPIDEr on request)."
