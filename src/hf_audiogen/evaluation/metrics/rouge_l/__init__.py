"""The `rouge_l` evaluate module (load its folder with evaluate.load)."""
