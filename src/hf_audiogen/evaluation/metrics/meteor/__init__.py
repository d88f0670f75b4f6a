"""The `meteor` evaluate module (load its folder with evaluate.load)."""
