"""Attribute heads over a frozen pretrained backbone's grid features (the ``sample`` profile).

An image's grid (h x w cells of C channels, as :class:`models.regions.GridRegions` extracts it)
is pooled twice: the mean over the grid, and a ``pool`` x ``pool`` average-pooled grid that
keeps where a detail is (the neckline at the top, the toe at one end). The concatenation,
standardised by statistics fixed at training time, is the image's embedding; each task reads
it with one linear head. Only the heads train, so a model costs seconds on a CPU, and the same
embedding serves the neighbourhood reliability of the labels (:mod:`pipeline.mavp.reliability`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.attributes import TaskHead


def pool_grid(cells: torch.Tensor, pool: int) -> torch.Tensor:
    """(B, h*w, C) grid cells -> (B, C * (1 + pool^2)): grid mean, then the pooled grid."""
    side = int(round(cells.shape[1] ** 0.5))
    if side * side != cells.shape[1]:
        raise ValueError(f"{cells.shape[1]} cells do not form a square grid")
    fmap = cells.transpose(1, 2).reshape(len(cells), -1, side, side)
    parts = [fmap.mean(dim=(2, 3))]
    if pool > 0:
        parts.append(F.adaptive_avg_pool2d(fmap, pool).flatten(1))
    return torch.cat(parts, dim=1)


def pooled_features(cells: np.ndarray, pool: int, chunk: int = 1024) -> np.ndarray:
    """:func:`pool_grid` over a (N, h*w, C) array, in chunks, as float32."""
    out = [pool_grid(torch.from_numpy(np.asarray(cells[i:i + chunk], dtype=np.float32)), pool).numpy()
           for i in range(0, len(cells), chunk)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


@dataclass(frozen=True)
class ProbeSpec:
    dim: int                      # pooled feature size (the pooling is the features', see pipeline.distant.features)


class GridProbe(nn.Module):
    """Standardised pooled grid features -> logits per task (linear heads)."""

    def __init__(self, spec: ProbeSpec, heads: Sequence[TaskHead], mean: np.ndarray | None = None,
                 std: np.ndarray | None = None):
        super().__init__()
        self.spec = spec
        self.task_heads = tuple(heads)
        self.register_buffer("mean", torch.as_tensor(mean if mean is not None else np.zeros(spec.dim), dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std if std is not None else np.ones(spec.dim), dtype=torch.float32))
        self.heads = nn.ModuleDict({h.name: nn.Linear(spec.dim, h.num_classes) for h in heads})

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, dim) -> the standardised embedding the heads read."""
        return (features - self.mean) / self.std

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.embed(features)
        return {name: head(z) for name, head in self.heads.items()}

    def describe(self) -> dict:
        return {"kind": "grid_probe", "probe": asdict(self.spec), "heads": [asdict(h) for h in self.task_heads]}


def build_probe(features: np.ndarray, heads: Sequence[TaskHead]) -> GridProbe:
    """A probe with random heads, standardised by ``features`` (its training rows)."""
    # a floor, not an offset: a random backbone's features can be 1e-4 small and still tell classes apart
    mean, std = features.mean(axis=0), np.maximum(features.std(axis=0), 1e-8)
    return GridProbe(ProbeSpec(int(features.shape[1])), heads, mean, std)


def probe_from_description(describe: dict) -> GridProbe:
    heads = [TaskHead(h["name"], tuple(h["classes"]), h["multi_label"]) for h in describe["heads"]]
    return GridProbe(ProbeSpec(**describe["probe"]), heads)
