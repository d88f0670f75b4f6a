"""The `spider` evaluate module (load its folder with evaluate.load)."""
