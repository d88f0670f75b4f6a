"""The `cider_d` evaluate module (load its folder with evaluate.load)."""
