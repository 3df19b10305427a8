"""A MEPAVE product's category from its image, for the products no sentence names.

The keyword rule (:func:`pipeline.sources.mepave.categorize`) decides every product whose
sentences name it (连衣裙, 马丁靴, ...). Real MEPAVE also has products whose only sentence names
no product ("柔软印花梭织面料"); only the image can tell. The vision sources' images have known
categories (``image_categories`` in ``pipeline/config/categories.yaml``: FashionAI's task
families, UT-ZAP50K's Category, the crawled shoe folders). A linear classifier over the frozen
region backbone's pooled features (the distant classifiers' features) learns the five
categories from them. A product gets the most probable category of its image when that
probability is at least ``min_confidence``. Otherwise, or without a usable image, it stays
uncategorised and its sentences are rejects (``no_category``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd

from pipeline.schema import CATEGORIES, Schema

if TYPE_CHECKING:                       # torch is imported where the classifier is fitted or applied
    import torch


@dataclass(frozen=True)
class CategoriserConfig:
    min_confidence: float = 0.6         # below it a product stays uncategorised
    max_per_category: int = 200         # source images per category (seeded sample): bounds the cost
    holdout: float = 0.2                # of them, held out to report the classifier's accuracy
    steps: int = 300
    lr: float = 1e-2
    weight_decay: float = 1e-3
    seed: int = 0


def category_examples(tables: Mapping[str, pd.DataFrame], schema: Schema, config: CategoriserConfig) -> pd.DataFrame:
    """``image_id, image_path, category, source``: the vision sources' images of known category,
    at most ``max_per_category`` per category (one row per image)."""
    frames = []
    for source, table in tables.items():
        mapping = schema.image_categories.get(source)
        if not mapping or table.empty:
            continue
        key = table["category"] if "category" in table else table["task"]
        frame = table.assign(category=key.map(mapping), source=source)[["image_id", "image_path", "category", "source"]]
        frames.append(frame.dropna(subset=["category"]).drop_duplicates("image_path"))
    examples = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["image_id", "image_path", "category", "source"])
    sample = [g.sample(min(len(g), config.max_per_category), random_state=config.seed)
              for _, g in examples.groupby("category", sort=True)]
    return (pd.concat(sample) if sample else examples).sort_values("image_path").reset_index(drop=True)


@dataclass
class Categoriser:
    """Standardisation and a linear layer over pooled image features."""

    classes: tuple[str, ...]
    mean: torch.Tensor
    std: torch.Tensor
    layer: torch.nn.Linear
    holdout_accuracy: float

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            x = (torch.from_numpy(np.asarray(features, np.float32)) - self.mean) / self.std
            return self.layer(x).softmax(-1).numpy()


def fit_categoriser(features: np.ndarray, categories: list[str], config: CategoriserConfig) -> Categoriser:
    """The linear classifier, its accuracy on a seeded held-out share of the examples reported
    (then refitted on all of them)."""
    import torch

    classes = tuple(c for c in CATEGORIES if c in set(categories))
    y = torch.tensor([classes.index(c) for c in categories])
    x = torch.from_numpy(np.asarray(features, np.float32))
    held = np.random.default_rng(config.seed).random(len(y)) < config.holdout
    accuracy = float("nan")
    if held.any() and (~held).any():
        trial = _fit(x[~held], y[~held], len(classes), config)
        accuracy = float((trial.probabilities(x[held].numpy()).argmax(1) == y[held].numpy()).mean())
    final = _fit(x, y, len(classes), config)
    final.classes, final.holdout_accuracy = classes, accuracy
    return final


def _fit(x: torch.Tensor, y: torch.Tensor, n_classes: int, config: CategoriserConfig) -> Categoriser:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(config.seed)
    mean, std = x.mean(0), x.std(0) + 1e-5
    layer = torch.nn.Linear(x.shape[1], n_classes)
    optimiser = torch.optim.AdamW(layer.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    z = (x - mean) / std
    for _ in range(config.steps):
        optimiser.zero_grad()
        F.cross_entropy(layer(z), y).backward()
        optimiser.step()
    return Categoriser((), mean, std, layer.eval(), float("nan"))


def image_categories(cids: list[str], probabilities: np.ndarray, classes: tuple[str, ...],
                     config: CategoriserConfig) -> pd.DataFrame:
    """``cid, category, confidence``: the most probable category of each product's image, or
    None below ``min_confidence``."""
    best = probabilities.argmax(1) if len(cids) else np.zeros(0, int)
    confidence = probabilities.max(1) if len(cids) else np.zeros(0)
    category = [classes[i] if c >= config.min_confidence else None for i, c in zip(best, confidence)]
    return pd.DataFrame({"cid": cids, "category": category, "confidence": confidence.round(4)})


def final_categories(records: pd.DataFrame, by_image: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per product ``cid, category, by, confidence`` (``by``: text, override, image or none),
    and the sentences with their final category and ``category_source``: a product categorised
    neither way has no category (the caller rejects its sentences as ``no_category``)."""
    products = records.drop_duplicates("cid")[["cid", "category", "category_source"]].rename(
        columns={"category_source": "by"})
    products["category"] = products["category"].astype(object).where(products["category"].notna(), None)
    products["confidence"] = np.where(products["category"].notna(), 1.0, np.nan)
    category_of = dict(zip(by_image["cid"], by_image["category"]))
    confidence_of = dict(zip(by_image["cid"], by_image["confidence"]))
    pending = products["category"].isna()
    cids = products.loc[pending, "cid"]
    from_image = cids.map(lambda c: category_of.get(c)).astype(object)
    products.loc[pending, "confidence"] = cids.map(lambda c: confidence_of.get(c, np.nan)).astype(float)
    products.loc[pending, "category"] = from_image
    products.loc[pending, "by"] = np.where(from_image.notna(), "image", "none")
    products = products.reset_index(drop=True)
    by_cid = products.set_index("cid")
    sentences = records.drop(columns=["category", "category_source"]).assign(
        category=records["cid"].map(by_cid["category"]), category_source=records["cid"].map(by_cid["by"]))
    return products, sentences


def coverage(products: pd.DataFrame, truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Products per way of categorising (text, override, image, none) and, given the truth
    (``cid, category``), the accuracy of each."""
    rows = []
    for by in ("text", "override", "image", "none"):
        part = products[products["by"] == by]
        row = {"by": by, "products": int(len(part))}
        if truth is not None:
            scored = part.merge(truth[["cid", "category"]].rename(columns={"category": "truth"}), on="cid")
            row["accuracy"] = round(float((scored["category"] == scored["truth"]).mean()), 4) if len(scored) and by != "none" else None
        rows.append(row)
    return pd.DataFrame(rows)
