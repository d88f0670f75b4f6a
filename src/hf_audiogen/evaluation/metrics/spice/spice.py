"""SPICE 1.0 (runs spice-1.0.jar with Stanford CoreNLP 3.6.0; needs Java).

Load offline with ``evaluate.load(hf_audiogen.evaluation.metric_module_path("spice"))``.
"""

from hf_audiogen.evaluation import evaluate_metrics


class Spice(evaluate_metrics.CaptionMetric):
    metrics = ("spice",)
    description = "SPICE 1.0 (runs spice-1.0.jar with Stanford CoreNLP 3.6.0; needs Java)."
