"""Distant labels: every MEPAVE product image, every image slot that applies to its category,
labelled by the classifier ``slot_classifiers`` chose for that slot.

A slot's value probabilities come from its model's heads: the source labels that map to one
MAVP value add up (softmax heads) or take their maximum (sigmoid heads, where probabilities do
not sum to one). Several heads (FashionAI's four design tasks make neckline) are mixed with
weights proportional to each task's training images: each head only ever saw images of its
own design family, so it is confident on any image (the neck-design head calls nearly every
garment a turtleneck), and taking the best head would let the most overconfident one win; the
mixture treats each head as "the answer if this image is of my family" and the image counts as
how often each family occurs; each head's logits are first divided by the temperature fitted on
its source validation split, so the probabilities are calibrated.

Where sentences name a slot's value, the slot's classifier is then adapted to MEPAVE's own
images, cross-fitted over folds of products (:mod:`pipeline.mavp.adapt`). The value with the
highest probability is the label, that probability its confidence; ``reliability`` adds the
visual-neighbour agreement and the text's word (:mod:`pipeline.mavp.reliability`);
``source_value`` is what the source classifier alone said. A product with no usable image gets
``none`` with source ``none``, and is counted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.distant.selection import value_probabilities
from pipeline.io import atomic_path, content_key, file_sha256
from pipeline.mavp.adapt import AdaptConfig, adapt_slot, anchor_values
from pipeline.mavp.reliability import combine, neighbour_agreement
from pipeline.pixels import decode_images
from pipeline.schema import Schema

NONE = "none"
LABEL_COLUMNS = ["cid", "slot", "value", "confidence", "reliability", "neighbour_agreement", "text_value",
                 "source_value", "source", "reason"]


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


@dataclass(frozen=True)
class LabelConfig:
    """How MEPAVE images are labelled: text-anchored adaptation, and the reliability score."""

    folds: int = 5                   # K of the cross-fitted adaptation; 0: source classifiers only
    adapt_steps: int = 150
    adapt_lr: float = 1e-3
    adapt_weight_decay: float = 1e-2
    min_anchors: int = 20            # fewer anchors in the training folds: no adaptation of that slot
    neighbours: int = 10             # K of the visual-neighbour agreement (PV2TEA uses 10)
    mirror: bool = True              # also read each image mirrored (test-time flip; the adaptation learns both)
    seed: int = 0

    @property
    def adapt(self) -> AdaptConfig:
        return AdaptConfig(self.folds, self.adapt_steps, self.adapt_lr, self.adapt_weight_decay, self.min_anchors,
                           self.seed)


@dataclass
class SlotPrediction:
    values: list[str]
    cids: list[str]                  # products with a usable image, in row order
    probabilities: np.ndarray        # (views, N, V) calibrated source classifier, per view (plain, mirrored)
    embedding: np.ndarray            # (views, N, D) what its heads read


def _model_inputs(extra: Mapping, paths: Sequence[str], cache_dir: Path | str | None, workers: int,
                  mirror: bool = True) -> tuple[list[np.ndarray], list[int]]:
    """The images as the classifier reads them (pooled features or pixels), plain and (with
    ``mirror``) mirrored, and which images were usable."""
    if "features" not in extra:
        decoded = decode_images(list(paths), int(extra["image_size"]),
                                Path(cache_dir) / "pixels" if cache_dir else None, workers, source="mepave_images")
        mirrored = [np.ascontiguousarray(np.asarray(decoded.pixels)[:, :, ::-1])] if mirror else []
        return [decoded.pixels, *mirrored], list(decoded.kept)
    from pipeline.distant.features import feature_extractor, image_features
    from pipeline.saliency.config import RegionConfig

    backbone, pool, root = RegionConfig(**extra["features"]["backbone"]), extra["features"]["pool"], Path(cache_dir or ".")
    ids = [str(i) for i in range(len(paths))]
    got = [image_features(ids, paths, feature_extractor(backbone, pool), root / "features", workers,
                          grid_cache_dir=root / "regions")]
    if mirror:
        got.append(image_features(ids, paths, feature_extractor(backbone, pool, mirror=True), root / "features", workers))
    kept = sorted(set.intersection(*[set(g.ids) for g in got]), key=int)
    views = [g.features if g.ids == kept else g.features[[g.ids.index(i) for i in kept]] for g in got]
    return views, [int(i) for i in kept]


def _embedding(model, inputs: np.ndarray, batch_size: int = 512) -> np.ndarray:
    import torch

    from pipeline.distant.train import model_input

    with torch.no_grad():
        parts = [model.embed(model_input(model, inputs[i:i + batch_size])).numpy()
                 for i in range(0, len(inputs), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def predict_slots(with_image: pd.DataFrame, path_of: Mapping[str, str], chosen: Mapping[str, dict],
                  cache_dir: Path | str | None, batch_size: int, workers: int,
                  mirror: bool = True) -> dict[str, SlotPrediction]:
    """Each ready slot's calibrated value probabilities and embedding per view, one pass per
    checkpoint and view."""
    from models.attributes import load_classifier
    from pipeline.distant.train import predict_probabilities

    out: dict[str, SlotPrediction] = {}
    paths = [path_of[c] for c in with_image["cid"]]
    inputs_of: dict[str, tuple[list[np.ndarray], list[int]]] = {}   # the probes of every source read the same features
    for checkpoint, group in pd.DataFrame(list(chosen.values())).groupby("checkpoint") if chosen else []:
        model, extra = load_classifier(checkpoint)
        how = json.dumps({k: extra.get(k) for k in ("features", "image_size")}, sort_keys=True)
        if how not in inputs_of:
            inputs_of[how] = _model_inputs(extra, paths, cache_dir, workers, mirror)
        views, kept = inputs_of[how]
        kept_cids = with_image["cid"].iloc[kept].tolist()
        probs = [predict_probabilities(model, inputs, batch_size=batch_size, temperatures=extra.get("temperatures"),
                                       progress=f"labeling {', '.join(sorted(group['slot']))}") for inputs in views]
        embedding = np.stack([_embedding(model, inputs) for inputs in views])
        classes = {h.name: h.classes for h in model.task_heads}
        multi = {h.name: h.multi_label for h in model.task_heads}
        for row in group.to_dict("records"):
            per_view = []
            for view in probs:
                values, p = slot_value_probabilities({t: view[t] for t in row["tasks"]}, row["label_to_value"], classes,
                                                     multi, row.get("task_weights"))
                per_view.append(p / np.clip(p.sum(axis=1, keepdims=True), 1e-9, None))
            out[row["slot"]] = SlotPrediction(values, kept_cids, np.stack(per_view), embedding)
    return out


def ready_classifiers(slot_classifiers: pd.DataFrame) -> dict[str, dict]:
    """Slot -> its row of the choice table, for the slots whose classifier is ready."""
    return {r["slot"]: r for r in slot_classifiers.to_dict("records") if r["status"] == "ready"}


def predict_images(images: pd.DataFrame, slot_classifiers: pd.DataFrame, cache_dir: Path | str | None,
                   mirror: bool = True, batch_size: int = 256, workers: int = 2) -> dict[str, SlotPrediction]:
    """The data-parallel half of labelling: every image (``images``: cid, image_path) decoded,
    read by each chosen classifier and scored, plain and (``mirror``) mirrored. Rows are in cid
    order, so the predictions of disjoint sets of images concatenate (:func:`merge_predictions`)
    to those of their union."""
    with_image = images[["cid"]].drop_duplicates().sort_values("cid").reset_index(drop=True)
    path_of = dict(zip(images["cid"], images["image_path"]))
    return predict_slots(with_image, path_of, ready_classifiers(slot_classifiers), cache_dir, batch_size, workers,
                         mirror)


def save_predictions(predictions: Mapping[str, SlotPrediction], path: Path | str) -> Path:
    """One ``.npz`` of every slot's prediction (an embedding shared by slots is stored once)."""
    arrays, index, embeddings = {}, {}, {}
    for slot, pred in predictions.items():
        shared = next((k for k, e in embeddings.items() if e is pred.embedding), None)
        if shared is None:
            shared = f"embedding_{len(embeddings)}"
            embeddings[shared] = pred.embedding
            arrays[shared] = pred.embedding
        arrays[f"{slot}.probabilities"] = pred.probabilities
        index[slot] = {"values": pred.values, "cids": pred.cids, "embedding": shared}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, index=json.dumps(index), **arrays)
    return Path(path)


def predictions_index(path: Path | str) -> dict[str, dict]:
    """Slot -> its values and cids in a saved predictions file, without reading the arrays."""
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["index"]))


def load_predictions(path: Path | str) -> dict[str, SlotPrediction]:
    with np.load(path, allow_pickle=False) as z:
        index = json.loads(str(z["index"]))
        return {slot: SlotPrediction(i["values"], i["cids"], z[f"{slot}.probabilities"], z[i["embedding"]])
                for slot, i in index.items()}


def merge_predictions(parts: Sequence[Mapping[str, SlotPrediction]]) -> dict[str, SlotPrediction]:
    """The predictions of disjoint image sets as one, rows in cid order (what one
    :func:`predict_images` over their union gives)."""
    out: dict[str, SlotPrediction] = {}
    for slot in sorted({s for part in parts for s in part}):
        mine = [part[slot] for part in parts if slot in part]
        values = mine[0].values
        if any(p.values != values for p in mine):
            raise ValueError(f"{slot}: the parts were scored with different value lists (different checkpoints?)")
        cids = [c for p in mine for c in p.cids]
        order = np.argsort(np.asarray(cids, dtype=object), kind="stable")
        out[slot] = SlotPrediction(values, [cids[i] for i in order],
                                   np.concatenate([p.probabilities for p in mine], axis=1)[:, order],
                                   np.concatenate([p.embedding for p in mine], axis=1)[:, order])
    return out


def label_slot(slot: str, pred: SlotPrediction, category_of: Mapping[str, str], text: pd.DataFrame,
               schema: Schema, config: LabelConfig) -> tuple[pd.DataFrame, dict]:
    """The labels of one slot's products: adapted, with reliability and the text's value."""
    applies = [i for i, c in enumerate(pred.cids) if slot in schema.category(category_of[c]).slots]
    cids = [pred.cids[i] for i in applies]
    source_p, z = pred.probabilities[:, applies], pred.embedding[:, applies]
    anchors = anchor_values(text, slot)
    adapted = adapt_slot(source_p, z, cids, pred.values, anchors, config.adapt)
    best = adapted.probabilities.argmax(axis=1)
    values = np.asarray(pred.values, dtype=object)
    label = values[best]
    confidence = adapted.probabilities[np.arange(len(cids)), best]
    neighbours = neighbour_agreement(z.mean(axis=0), best, config.neighbours)
    named = np.asarray([anchors.get(c) for c in cids], dtype=object)
    agrees = np.where(named == None, np.nan, (named == label).astype(float))   # noqa: E711 (elementwise)
    frame = pd.DataFrame({"cid": cids, "slot": slot, "value": label, "confidence": confidence.astype(np.float32),
                          "reliability": combine(confidence, neighbours, agrees),
                          "neighbour_agreement": neighbours, "text_value": pd.array(named, dtype="string"),
                          "source_value": values[source_p.mean(axis=0).argmax(axis=1)], "source": "image",
                          "reason": ""})
    return frame, adapted.stats


def labels_from_predictions(products: pd.DataFrame, predictions: Mapping[str, SlotPrediction],
                             image_slots: Sequence[str], schema: Schema, text: pd.DataFrame | None = None,
                             config: LabelConfig = LabelConfig()) -> ImageLabels:
    """The whole-set half of labelling: each slot adapted on its anchors (cross-fitted over
    products), its labels, reliability and the text's value; ``none`` where no classifier is
    ready or the product has no usable image. ``products``: cid, category (one row each)."""
    text = text if text is not None else pd.DataFrame(columns=["cid", "slot", "value"])
    products = products.sort_values("cid").reset_index(drop=True)
    with_image = {c for pred in predictions.values() for c in pred.cids}
    stats = {"products": int(len(products)), "without_image": int((~products["cid"].isin(with_image)).sum()),
             "labelled": {}, "no_classifier": {}, "adaptation": {}}
    category_of = dict(zip(products["cid"], products["category"]))
    parts = []
    for slot, pred in sorted(predictions.items()):
        if not config.mirror:
            pred = SlotPrediction(pred.values, pred.cids, pred.probabilities[:1], pred.embedding[:1])
        pred = _known_products(pred, category_of)
        frame, stats["adaptation"][slot] = label_slot(slot, pred, category_of, text, schema, config)
        parts.append(frame)
        stats["labelled"][slot] = int(len(frame))
    labelled = {(c, s) for part in parts for c, s in zip(part["cid"], part["slot"])}
    missing = []
    for cid, category in zip(products["cid"], products["category"]):
        for slot in applicable_image_slots(category, image_slots, schema):
            if (cid, slot) in labelled:
                continue
            reason = "no_classifier" if slot not in predictions else "no_usable_image"
            missing.append({"cid": cid, "slot": slot, "value": NONE, "source": NONE, "reason": reason})
            if reason == "no_classifier":
                stats["no_classifier"][slot] = stats["no_classifier"].get(slot, 0) + 1
    labels = pd.concat([*parts, pd.DataFrame(missing, columns=["cid", "slot", "value", "source", "reason"])],
                       ignore_index=True)
    labels = labels.reindex(columns=LABEL_COLUMNS).sort_values(["cid", "slot"]).reset_index(drop=True)
    return ImageLabels(labels, stats)


def _known_products(pred: SlotPrediction, category_of: Mapping[str, str]) -> SlotPrediction:
    """Only the rows of products in the product table (images of products it lacks are not labelled)."""
    keep = [i for i, c in enumerate(pred.cids) if c in category_of]
    if len(keep) == len(pred.cids):
        return pred
    return SlotPrediction(pred.values, [pred.cids[i] for i in keep], pred.probabilities[:, keep],
                          pred.embedding[:, keep])


def label_images(products: pd.DataFrame, images: pd.DataFrame, slot_classifiers: pd.DataFrame,
                 image_slots: Sequence[str], schema: Schema, cache_dir: Path | str | None,
                 text: pd.DataFrame | None = None, config: LabelConfig = LabelConfig(),
                 batch_size: int = 256, workers: int = 2) -> ImageLabels:
    """Both halves at once: ``images`` (cid, image_path) of the usable images of ``products``;
    ``slot_classifiers``: the table from :mod:`pipeline.distant.selection`; ``text``: the
    sentences' values (cid, slot, value), the anchors of the adaptation and of the reliability;
    ``cache_dir``: the cache root (``features/`` and ``pixels/`` under it)."""
    images = images[images["cid"].isin(products["cid"])]
    predictions = predict_images(images, slot_classifiers, cache_dir, config.mirror, batch_size, workers)
    return labels_from_predictions(products, predictions, image_slots, schema, text, config)


def labeling_key(products: pd.DataFrame, images: pd.DataFrame, slot_classifiers: pd.DataFrame,
                 image_slots: Sequence[str], text: pd.DataFrame, config: LabelConfig) -> str:
    """Hash of what the labels depend on: product categories, image bytes, checkpoints, the whole
    choice table (tasks, label maps, head weights), the slots, the sentences' values of those
    slots (the anchors) and the labelling settings."""
    checkpoints = sorted({c for c in slot_classifiers["checkpoint"].dropna()})
    anchors = text[text["slot"].isin(list(image_slots))][["cid", "slot", "value"]]
    return content_key("labels/v2", products[["cid", "category"]].sort_values("cid").reset_index(drop=True),
                       sorted(zip(images["cid"], (file_sha256(p) for p in images["image_path"]))),
                       [file_sha256(c) for c in checkpoints],
                       slot_classifiers.astype(str),
                       sorted(image_slots),
                       anchors.sort_values(["cid", "slot", "value"]).reset_index(drop=True), asdict(config))
