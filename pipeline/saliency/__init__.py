"""Visualized saliency ascription (MuJo-SF III-B1): which slots the image helps to fill."""
