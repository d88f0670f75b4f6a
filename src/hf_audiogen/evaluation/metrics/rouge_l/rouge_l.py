"""ROUGE-L as coco-caption (LCS F-measure, beta 1.2).

Load offline with ``evaluate.load(hf_audiogen.evaluation.metric_module_path("rouge_l"))``.
"""

from hf_audiogen.evaluation import evaluate_metrics


class RougeL(evaluate_metrics.CaptionMetric):
    metrics = ("rouge_l",)
    description = "ROUGE-L as coco-caption (LCS F-measure, beta 1.2)."
