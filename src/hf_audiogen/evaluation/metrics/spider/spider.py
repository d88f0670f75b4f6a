"""SPIDEr = (CIDEr-D + SPICE) / 2 (SPICE needs Java and its jars).

Load offline with ``evaluate.load(hf_audiogen.evaluation.metric_module_path("spider"))``.
"""

from hf_audiogen.evaluation import evaluate_metrics


class Spider(evaluate_metrics.CaptionMetric):
    metrics = ("spider",)
    description = "SPIDEr = (CIDEr-D + SPICE) / 2 (SPICE needs Java and its jars)."
