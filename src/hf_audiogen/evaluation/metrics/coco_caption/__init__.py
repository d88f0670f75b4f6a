"""The `coco_caption` evaluate module (load its folder with evaluate.load)."""
