"""BLEU-1..4 as coco-caption (closest-reference brevity penalty, corpus-level counts).

Load offline with ``evaluate.load(hf_audiogen.evaluation.metric_module_path("bleu"))``.
"""

from hf_audiogen.evaluation import evaluate_metrics


class Bleu(evaluate_metrics.CaptionMetric):
    metrics = ("bleu",)
    description = "BLEU-1..4 as coco-caption (closest-reference brevity penalty, corpus-level counts)."
