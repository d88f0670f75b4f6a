"""The `bleu` evaluate module (load its folder with evaluate.load)."""
