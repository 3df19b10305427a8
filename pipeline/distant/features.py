"""Pooled grid features of images from the frozen region backbone, cached by image hash.

The ``sample`` profile's classifiers read these instead of pixels (:mod:`models.probe`): the
backbone is the one ``region_backbone`` made (EfficientNet-Lite0, ImageNet weights), at its
input size, so a neckline or a toecap is seen at 192 px, not 48. A training image is seen as
one augmented view (:mod:`models.augment`: backdrop replacement, mirror, scale, position and
rotation jitter, colour-safe) drawn once from a seed and the image's own pixels, so the view,
and its cached features, are the same on every run. Validation and test images are seen plain;
MEPAVE images plain and mirrored (their labels average both). Features go through :func:`pipeline.saliency.regions.extract_cached`, keyed by the
image's bytes and everything below: any change of weights, size, pooling or augmentation
misses the cache.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from models.augment import AugmentConfig, augment, plain_backdrop
from models.backbones import resize_square
from models.probe import pool_grid, pooled_features
from models.regions import GridRegions
from pipeline.saliency.config import RegionConfig
from pipeline.saliency.regions import build_extractor, extract_cached


@dataclass
class PooledGrid:
    """A :class:`GridRegions` extractor whose output is one pooled vector per image (l = 1),
    optionally of an augmented view of the image."""

    grid: GridRegions
    pool: int = 3
    augmentation: AugmentConfig | None = None
    seed: int = 0
    mirror: bool = False             # the mirror image (test-time view of MEPAVE products)

    @property
    def dim(self) -> int:
        return self.grid.dim * (1 + self.pool * self.pool)

    def config(self) -> dict:
        return {**self.grid.config(), "pooled": self.pool, "seed": self.seed, "mirror": self.mirror,
                "augment": asdict(self.augmentation) if self.augmentation else None}

    def view(self, image: np.ndarray) -> np.ndarray:
        """The image as this extractor sees it: resized, and augmented when configured, with a
        generator seeded by the seed and the pixels (the same image always gets the same view)."""
        image = resize_square(image, self.grid.image_size)
        if self.mirror:
            image = np.ascontiguousarray(image[:, ::-1])
        if self.augmentation is None:
            return image
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + zlib.crc32(image.tobytes()))
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
        backdrop = torch.from_numpy(plain_backdrop(image[None]))
        out = augment(x, backdrop, self.augmentation, generator)[0]
        return (out.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()

    def extract(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        cells = self.grid.extract([self.view(im) for im in images])
        pooled = pool_grid(torch.from_numpy(np.stack(cells)), self.pool).numpy()
        return [row[None] for row in pooled]


def feature_extractor(backbone: RegionConfig, pool: int, augmentation: AugmentConfig | None = None,
                      seed: int = 0, mirror: bool = False) -> PooledGrid:
    grid = build_extractor(backbone)
    if not isinstance(grid, GridRegions):
        raise ValueError(f"pooled features need a grid backbone, not {backbone.kind!r}")
    return PooledGrid(grid, pool, augmentation, seed, mirror)


@dataclass
class ImageFeatures:
    ids: list[str]                # the images that gave features, in the order asked
    features: np.ndarray          # (N, dim) float32
    rejects: pd.DataFrame
    stats: dict


def image_features(ids: Sequence[str], paths: Sequence[str], extractor: PooledGrid, cache_dir,
                   workers: int = 2, grid_cache_dir=None) -> ImageFeatures:
    """Features of every image (an image that cannot be read goes to rejects with its reason).
    With ``grid_cache_dir`` (the region features' cache) a plain view is pooled from the grid
    cells cached there, so MEPAVE images the saliency stage already ran through the same
    backbone are not run again."""
    frame = pd.DataFrame({"cid": list(ids), "image_path": list(paths)})
    if grid_cache_dir is not None and extractor.augmentation is None and not extractor.mirror:
        table, rejects = extract_cached(frame, extractor.grid, grid_cache_dir, workers,
                                        reduce=lambda cells: pooled_features(cells, extractor.pool))
        features = table.features[:, 0, :] if len(table.cids) else None
    else:
        table, rejects = extract_cached(frame, extractor, cache_dir, workers)
        features = table.features[:, 0, :] if len(table.cids) else None
    if features is None:
        features = np.zeros((0, extractor.dim), np.float32)
    return ImageFeatures(list(table.cids), features.astype(np.float32), rejects, table.stats)
