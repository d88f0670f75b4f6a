"""METEOR 1.5 as coco-caption (runs meteor-1.5.jar; needs Java).

Load offline with ``evaluate.load(hf_audiogen.evaluation.metric_module_path("meteor"))``.
"""

from hf_audiogen.evaluation import evaluate_metrics


class Meteor(evaluate_metrics.CaptionMetric):
    metrics = ("meteor",)
    description = "METEOR 1.5 as coco-caption (runs meteor-1.5.jar; needs Java)."
