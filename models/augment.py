"""Training-time augmentation of source images towards the MEPAVE domain, colour-safe.

MEPAVE photos show products at several sizes and positions, slightly rotated, mirrored, on
busy backgrounds; UT-ZAP50K shows one side view on a plain white backdrop. A model trained on
the latter alone learns the backdrop with the detail (the toe's outline against white). The
augmentation here spans the target's nuisances without touching what a label is about:

* **background replacement**: the plain light backdrop (pixels connected to the image border,
  found once per image) is replaced by a random smooth colour field with grain;
* **mirror, scale, position and rotation jitter**, one affine warp per image.

No colour of the product is changed (the colour slot is learned from the same batches).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    background: float = 0.8             # share of images with a plain backdrop that get a new one
    flip: float = 0.5
    scale: tuple[float, float] = (0.75, 1.05)
    rotate: float = 12.0                # degrees, either way
    shift: float = 0.12                 # share of the image size, either way


def plain_backdrop(pixels: np.ndarray, light: int = 200, spread: int = 30, border_share: float = 0.7) -> np.ndarray:
    """(N, H, W) True on the plain light backdrop of each uint8 (N, H, W, 3) image: near-white,
    grey-ish pixels connected to the border. Images whose border is mostly not such a backdrop
    (product photos on scenes) get an all-False mask."""
    masks = np.zeros(pixels.shape[:3], dtype=bool)
    for i, image in enumerate(pixels):
        lo, hi = image.min(axis=-1), image.max(axis=-1)
        plain = ((lo >= light) & (hi.astype(np.int16) - lo <= spread)).astype(np.uint8)
        border = np.concatenate([plain[0], plain[-1], plain[:, 0], plain[:, -1]])
        if border.mean() < border_share:
            continue
        _, labels = cv2.connectedComponents(plain, connectivity=4)
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        masks[i] = np.isin(labels, edge[edge > 0])
    return masks


def random_backgrounds(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 3, size, size) smooth random colour fields in [0, 1] with a little grain."""
    coarse = torch.rand(n, 3, 3, 3, generator=generator)
    field = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    grain = 0.03 * torch.randn(n, 3, size, size, generator=generator)
    return (field + grain).clamp(0, 1)


def augment(images: torch.Tensor, backdrop: torch.Tensor, config: AugmentConfig,
            generator: torch.Generator) -> torch.Tensor:
    """``images`` (B, 3, H, W) in [0, 1], ``backdrop`` (B, H, W) bool -> augmented images."""
    b, _, h, w = images.shape
    swap = backdrop & (torch.rand(b, 1, 1, generator=generator) < config.background)
    images = torch.where(swap[:, None], random_backgrounds(b, h, generator), images)
    angle = (torch.rand(b, generator=generator) * 2 - 1) * config.rotate * np.pi / 180
    lo, hi = config.scale
    zoom = 1.0 / (lo + (hi - lo) * torch.rand(b, generator=generator))     # grid scale: >1 shrinks
    mirror = torch.where(torch.rand(b, generator=generator) < config.flip, -1.0, 1.0)
    shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * config.shift * 2
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    theta = torch.stack([torch.stack([cos * mirror, -sin, shift[:, 0]], -1),
                         torch.stack([sin * mirror, cos, shift[:, 1]], -1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
