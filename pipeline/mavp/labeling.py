"""Distant labels: every MEPAVE product image, every image slot that applies to its category,
labelled by the classifier ``slot_classifiers`` chose for that slot.

A slot's value probabilities come from its model's heads: the source labels that map to one
MAVP value add up (softmax heads) or take their maximum (sigmoid heads, where probabilities do
not sum to one). Several heads (FashionAI's four design tasks make neckline) are mixed with
weights proportional to each task's training images: each head only ever saw images of its
own design family, so it is confident on any image (the neck-design head calls nearly every
garment a turtleneck), and taking the best head would let the most overconfident one win; the
mixture treats each head as "the answer if this image is of my family" and the image counts as
how often each family occurs. The value with the highest probability is the label, that probability its
confidence. A product with no usable image gets ``none`` with source ``none``, and is counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.distant.selection import value_probabilities
from pipeline.io import content_key, file_sha256
from pipeline.pixels import DecodedImages, decode_images
from pipeline.schema import Schema

NONE = "none"
LABEL_COLUMNS = ["cid", "slot", "value", "confidence", "source", "reason"]


@dataclass
class ImageLabels:
    labels: pd.DataFrame                      # LABEL_COLUMNS, one row per (cid, applicable image slot)
    stats: dict = field(default_factory=dict)


def slot_value_probabilities(probs: Mapping[str, np.ndarray], label_to_value: Mapping[str, str | None],
                             classes: Mapping[str, Sequence[str]], multi_label: Mapping[str, bool],
                             task_weights: Mapping[str, float] | None = None) -> tuple[list[str], np.ndarray]:
    """(values, (N, V) probabilities) of one slot from its heads' class probabilities, the heads
    mixed by ``task_weights`` (equal when not given)."""
    values = sorted({v for v in label_to_value.values() if v})
    weights = {t: (task_weights or {}).get(t, 1.0) for t in probs}
    total = sum(weights.values()) or 1.0
    out = np.zeros((len(next(iter(probs.values()))) if probs else 0, len(values)), np.float32)
    for task, p in probs.items():
        class_values = [label_to_value.get(f"{task}\t{label}") for label in classes[task]]
        out += value_probabilities(p, class_values, values, multi_label[task]) * (weights[task] / total)
    return values, out


def applicable_image_slots(category: str, image_slots: Sequence[str], schema: Schema) -> list[str]:
    applicable = set(schema.category(category).slots)
    return [s for s in image_slots if s in applicable]


def label_images(products: pd.DataFrame, images: pd.DataFrame, slot_classifiers: pd.DataFrame,
                 image_slots: Sequence[str], schema: Schema, cache_dir: Path | str | None,
                 batch_size: int = 256, workers: int = 2) -> ImageLabels:
    """``products``: cid, category (one row each); ``images``: cid, image_path of the usable
    images; ``slot_classifiers``: the table from :mod:`pipeline.distant.selection`."""

    from models.attributes import load_classifier
    from pipeline.distant.train import predict_probabilities

    path_of = dict(zip(images["cid"], images["image_path"]))
    rows, stats = [], {"products": int(len(products)), "without_image": 0, "labelled": {}, "no_classifier": {}}
    chosen = {r["slot"]: r for r in slot_classifiers.to_dict("records") if r["status"] == "ready"}
    products = products.sort_values("cid").reset_index(drop=True)
    with_image = products[products["cid"].isin(path_of)]
    stats["without_image"] = int(len(products) - len(with_image))

    predictions: dict[str, tuple[list[str], np.ndarray, list[str]]] = {}   # slot -> values, probs, cids
    decoded_by_size: dict[int, DecodedImages] = {}
    for checkpoint, group in pd.DataFrame(list(chosen.values())).groupby("checkpoint") if chosen else []:
        model, extra = load_classifier(checkpoint)
        size = int(extra["image_size"])
        if size not in decoded_by_size:
            decoded_by_size[size] = decode_images([path_of[c] for c in with_image["cid"]], size, cache_dir, workers,
                                                  source="mepave_images")
        decoded = decoded_by_size[size]
        kept_cids = with_image["cid"].iloc[decoded.kept].tolist()
        probs = predict_probabilities(model, decoded.pixels, batch_size=batch_size,
                                      progress=f"labeling {', '.join(sorted(group['slot']))}")
        classes = {h.name: h.classes for h in model.task_heads}
        multi = {h.name: h.multi_label for h in model.task_heads}
        for row in group.to_dict("records"):
            tasks = list(row["tasks"])
            values, p = slot_value_probabilities({t: probs[t] for t in tasks}, row["label_to_value"], classes, multi,
                                                 row.get("task_weights"))
            predictions[row["slot"]] = (values, p, kept_cids)

    index = {slot: {cid: i for i, cid in enumerate(pred[2])} for slot, pred in predictions.items()}
    for cid, category in zip(products["cid"], products["category"]):
        for slot in applicable_image_slots(category, image_slots, schema):
            if slot not in predictions:
                rows.append((cid, slot, NONE, np.nan, NONE, "no_classifier"))
                stats["no_classifier"][slot] = stats["no_classifier"].get(slot, 0) + 1
                continue
            values, p, _ = predictions[slot]
            i = index[slot].get(cid)
            if i is None:
                rows.append((cid, slot, NONE, np.nan, NONE, "no_usable_image"))
                continue
            k = int(p[i].argmax())
            rows.append((cid, slot, values[k], float(p[i, k]), "image", ""))
            stats["labelled"][slot] = stats["labelled"].get(slot, 0) + 1
    labels = pd.DataFrame(rows, columns=LABEL_COLUMNS)
    return ImageLabels(labels, stats)


def labeling_key(products: pd.DataFrame, images: pd.DataFrame, slot_classifiers: pd.DataFrame,
                 image_slots: Sequence[str]) -> str:
    """Hash of what the labels depend on: product categories, image bytes, checkpoints, the whole
    choice table (tasks, label maps, head weights) and the slots."""
    checkpoints = sorted({c for c in slot_classifiers["checkpoint"].dropna()})
    return content_key("labels/v1", products[["cid", "category"]].sort_values("cid").reset_index(drop=True),
                       sorted(zip(images["cid"], (file_sha256(p) for p in images["image_path"]))),
                       [file_sha256(c) for c in checkpoints],
                       slot_classifiers.astype(str),
                       sorted(image_slots))
