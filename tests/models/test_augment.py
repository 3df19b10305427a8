"""Augmentation towards the MEPAVE domain: the backdrop is found and replaced, the product kept."""

import numpy as np
import torch

from models.augment import AugmentConfig, augment, plain_backdrop


def studio_shot(size=32):
    """A dark shoe-like box on white, with a white patch inside the box (a white sole or panel)."""
    image = np.full((size, size, 3), 245, np.uint8)
    image[8:24, 6:26] = (40, 40, 160)
    image[12:20, 10:22] = 250                      # white, but enclosed by the product
    return image


def test_backdrop_is_the_light_border_region_not_white_inside_the_product():
    mask = plain_backdrop(studio_shot()[None])[0]
    assert mask[0, 0] and mask[31, 31] and mask[2, 16]
    assert not mask[10, 8]                         # product
    assert not mask[15, 15]                        # white patch enclosed by the product
    busy = np.random.default_rng(0).integers(0, 255, (1, 32, 32, 3)).astype(np.uint8)
    assert not plain_backdrop(busy).any()          # a scene, not a studio backdrop


def test_augment_replaces_the_backdrop_and_keeps_the_product_colour():
    image = torch.from_numpy(studio_shot()).permute(2, 0, 1)[None].float() / 255
    mask = torch.from_numpy(plain_backdrop(studio_shot()[None]))
    still = AugmentConfig(background=1.0, flip=0.0, scale=(1.0, 1.0), rotate=0.0, shift=0.0)
    out = augment(image, mask, still, torch.Generator().manual_seed(0))
    assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
    torch.testing.assert_close(out[0, :, 10:22, 8], image[0, :, 10:22, 8], atol=1e-5, rtol=0)   # product kept
    assert (out[0][:, mask[0]] - image[0][:, mask[0]]).abs().mean() > 0.1                        # new backdrop
    moved = augment(image.repeat(8, 1, 1, 1), mask.repeat(8, 1, 1), AugmentConfig(),
                    torch.Generator().manual_seed(1))
    assert not torch.allclose(moved[0], moved[1])  # each image gets its own jitter
