"""Local `evaluate` modules of the caption metrics, one folder each (see hf_audiogen.evaluation.evaluate_metrics)."""
