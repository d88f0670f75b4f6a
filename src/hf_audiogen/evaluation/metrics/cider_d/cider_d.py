"""CIDEr-D as coco-caption's Cider (IDF from the scored references).

Load offline with ``evaluate.load(hf_audiogen.evaluation.metric_module_path("cider_d"))``.
"""

from hf_audiogen.evaluation import evaluate_metrics


class CiderD(evaluate_metrics.CaptionMetric):
    metrics = ("cider_d",)
    description = "CIDEr-D as coco-caption's Cider (IDF from the scored references)."
