"""The `spice` evaluate module (load its folder with evaluate.load)."""
