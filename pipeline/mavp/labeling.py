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
from pipeline.io import atomic_path, content_key, file_sha256, finish_npy, new_npy, release_pages
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


def _embeddings(model, views: Sequence[np.ndarray], out: Path | None, batch_size: int = 512) -> np.ndarray:
    """(views, N, D) of what the model's heads read, written a batch at a time (into a
    memory-mapped ``.npy`` at ``out`` when given: at scale it is GBs per checkpoint)."""
    import torch

    from pipeline.distant.train import model_input

    array = None
    with torch.no_grad():
        for v, inputs in enumerate(views):
            for i in range(0, len(inputs), batch_size):
                rows = model.embed(model_input(model, inputs[i:i + batch_size])).numpy()
                if array is None:
                    array = new_npy(out, (len(views), len(inputs), rows.shape[1]))
                array[v, i:i + len(rows)] = rows
    return finish_npy(array) if array is not None else np.zeros((len(views), 0, 0), np.float32)


def predict_slots(with_image: pd.DataFrame, path_of: Mapping[str, str], chosen: Mapping[str, dict],
                  cache_dir: Path | str | None, batch_size: int, workers: int,
                  mirror: bool = True, out: Path | None = None) -> dict[str, SlotPrediction]:
    """Each ready slot's calibrated value probabilities and embedding per view, one pass per
    checkpoint and view; with ``out`` (a predictions file) the embeddings are written beside it."""
    from models.attributes import load_classifier
    from pipeline.distant.train import predict_probabilities

    result: dict[str, SlotPrediction] = {}
    paths = [path_of[c] for c in with_image["cid"]]
    inputs_of: dict[str, tuple[list[np.ndarray], list[int]]] = {}   # the probes of every source read the same features
    groups = pd.DataFrame(list(chosen.values())).groupby("checkpoint") if chosen else []
    for number, (checkpoint, group) in enumerate(groups):
        model, extra = load_classifier(checkpoint)
        how = json.dumps({k: extra.get(k) for k in ("features", "image_size")}, sort_keys=True)
        if how not in inputs_of:
            inputs_of[how] = _model_inputs(extra, paths, cache_dir, workers, mirror)
        views, kept = inputs_of[how]
        kept_cids = with_image["cid"].iloc[kept].tolist()
        probs = [predict_probabilities(model, inputs, batch_size=batch_size, temperatures=extra.get("temperatures"),
                                       progress=f"labeling {', '.join(sorted(group['slot']))}") for inputs in views]
        embedding = _embeddings(model, views, embedding_file(out, number) if out is not None else None)
        classes = {h.name: h.classes for h in model.task_heads}
        multi = {h.name: h.multi_label for h in model.task_heads}
        for row in group.to_dict("records"):
            per_view = []
            for view in probs:
                values, p = slot_value_probabilities({t: view[t] for t in row["tasks"]}, row["label_to_value"], classes,
                                                     multi, row.get("task_weights"))
                per_view.append(p / np.clip(p.sum(axis=1, keepdims=True), 1e-9, None))
            result[row["slot"]] = SlotPrediction(values, kept_cids, np.stack(per_view), embedding)
    return result


def ready_classifiers(slot_classifiers: pd.DataFrame) -> dict[str, dict]:
    """Slot -> its row of the choice table, for the slots whose classifier is ready."""
    return {r["slot"]: r for r in slot_classifiers.to_dict("records") if r["status"] == "ready"}


def predict_images(images: pd.DataFrame, slot_classifiers: pd.DataFrame, cache_dir: Path | str | None,
                   mirror: bool = True, batch_size: int = 256, workers: int = 2,
                   out: Path | None = None) -> dict[str, SlotPrediction]:
    """The data-parallel half of labelling: every image (``images``: cid, image_path) decoded,
    read by each chosen classifier and scored, plain and (``mirror``) mirrored. Rows are in cid
    order, so the predictions of disjoint sets of images concatenate (:func:`merge_predictions`)
    to those of their union. With ``out`` the embeddings go beside that file, memory-mapped
    (:func:`save_predictions` then writes the rest)."""
    with_image = images[["cid"]].drop_duplicates().sort_values("cid").reset_index(drop=True)
    path_of = dict(zip(images["cid"], images["image_path"]))
    return predict_slots(with_image, path_of, ready_classifiers(slot_classifiers), cache_dir, batch_size, workers,
                         mirror, out)


def embedding_file(path: Path | str, number: int) -> Path:
    """The ``.npy`` of one checkpoint's embeddings beside a predictions file."""
    return Path(path).with_name(f"{Path(path).stem}.embedding_{number}.npy")


def save_predictions(predictions: Mapping[str, SlotPrediction], path: Path | str) -> Path:
    """``path``: an ``.npz`` of every slot's values, cids and probabilities; each distinct
    embedding (slots of one checkpoint share one) is an ``.npy`` beside it, memory-mapped on
    load. Embeddings :func:`predict_images` already wrote there are not written again."""
    path = Path(path)
    arrays, index, files = {}, {}, {}
    for slot, pred in predictions.items():
        if id(pred.embedding) not in files:
            target = embedding_file(path, len(files))
            on_disk = isinstance(pred.embedding, np.memmap) and Path(pred.embedding.filename) == target
            if not on_disk:
                with atomic_path(target) as tmp, open(tmp, "wb") as fh:
                    np.save(fh, pred.embedding)
            files[id(pred.embedding)] = target.name
        arrays[f"{slot}.probabilities"] = pred.probabilities
        index[slot] = {"values": pred.values, "cids": pred.cids, "embedding": files[id(pred.embedding)]}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, index=json.dumps(index), **arrays)
    return path


def predictions_index(path: Path | str) -> dict[str, dict]:
    """Slot -> its values and cids in a saved predictions file, without reading the arrays."""
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["index"]))


def load_predictions(path: Path | str) -> dict[str, SlotPrediction]:
    """A saved predictions file; the embeddings memory-mapped, one map per file (shared by slots)."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        index = json.loads(str(z["index"]))
        maps = {name: np.load(path.with_name(name), mmap_mode="r") for name in {i["embedding"] for i in index.values()}}
        return {slot: SlotPrediction(i["values"], i["cids"], z[f"{slot}.probabilities"], maps[i["embedding"]])
                for slot, i in index.items()}


def merge_predictions(parts: Sequence[Mapping[str, SlotPrediction]],
                      out: Path | None = None) -> dict[str, SlotPrediction]:
    """The predictions of disjoint image sets as one, rows in cid order (what one
    :func:`predict_images` over their union gives). With ``out`` merged embeddings are written
    beside it, memory-mapped, a block of rows at a time."""
    if len(parts) == 1:
        return dict(parts[0])
    merged: dict[tuple[int, ...], np.ndarray] = {}         # slots that share embeddings share the merge
    result: dict[str, SlotPrediction] = {}
    for slot in sorted({s for part in parts for s in part}):
        mine = [part[slot] for part in parts if slot in part]
        values = mine[0].values
        if any(p.values != values for p in mine):
            raise ValueError(f"{slot}: the parts were scored with different value lists (different checkpoints?)")
        cids = [c for p in mine for c in p.cids]
        order = np.argsort(np.asarray(cids, dtype=object), kind="stable")
        shared = tuple(id(p.embedding) for p in mine)
        if shared not in merged:
            merged[shared] = _merge_rows([p.embedding for p in mine], order,
                                         embedding_file(out, len(merged)) if out is not None else None)
        result[slot] = SlotPrediction(values, [cids[i] for i in order],
                                      np.concatenate([p.probabilities for p in mine], axis=1)[:, order],
                                      merged[shared])
    return result


def _merge_rows(arrays: Sequence[np.ndarray], order: np.ndarray, out: Path | None, block: int = 4096) -> np.ndarray:
    """(views, N, D) arrays stacked along N, then rows put in ``order``, a block at a time."""
    starts = np.cumsum([0, *[a.shape[1] for a in arrays]])
    merged = new_npy(out, (arrays[0].shape[0], int(starts[-1]), arrays[0].shape[2]))
    part_of = np.searchsorted(starts, order, side="right") - 1
    for begin in range(0, len(order), block):
        rows = slice(begin, begin + block)
        for p, array in enumerate(arrays):
            mine = np.flatnonzero(part_of[rows] == p)
            if len(mine):
                merged[:, begin + mine] = array[:, order[rows][mine] - starts[p]]
    return finish_npy(merged)


def label_slot(slot: str, pred: SlotPrediction, category_of: Mapping[str, str], text: pd.DataFrame,
               schema: Schema, config: LabelConfig) -> tuple[pd.DataFrame, dict]:
    """The labels of one slot's products: adapted, with reliability and the text's value. The
    embedding is read by rows (it may be a memory map of several GB), never copied whole."""
    # images of products the product table lacks (rejected ones) are not labelled
    applies = np.asarray([i for i, c in enumerate(pred.cids)
                          if c in category_of and slot in schema.category(category_of[c]).slots], dtype=np.int64)
    cids = [pred.cids[i] for i in applies]
    source_p = pred.probabilities[:, applies]
    anchors = anchor_values(text, slot)
    adapted = adapt_slot(source_p, pred.embedding, cids, pred.values, anchors, config.adapt, rows=applies)
    best = adapted.probabilities.argmax(axis=1)
    values = np.asarray(pred.values, dtype=object)
    label = values[best]
    confidence = adapted.probabilities[np.arange(len(cids)), best]
    neighbours = neighbour_agreement(view_mean(pred.embedding, applies), best, config.neighbours, overwrite=True)
    named = np.asarray([anchors.get(c) for c in cids], dtype=object)
    agrees = np.where(named == None, np.nan, (named == label).astype(float))   # noqa: E711 (elementwise)
    frame = pd.DataFrame({"cid": cids, "slot": slot, "value": label, "confidence": confidence.astype(np.float32),
                          "reliability": combine(confidence, neighbours, agrees),
                          "neighbour_agreement": neighbours, "text_value": pd.array(named, dtype="string"),
                          "source_value": values[source_p.mean(axis=0).argmax(axis=1)], "source": "image",
                          "reason": ""})
    return frame, adapted.stats


def view_mean(embedding: np.ndarray, rows: np.ndarray, block: int = 4096) -> np.ndarray:
    """(len(rows), D): each row's embedding averaged over the views, read a block of rows at a time."""
    out = np.empty((len(rows), embedding.shape[2]), np.float32)
    for start in range(0, len(rows), block):
        out[start:start + block] = np.asarray(embedding[:, rows[start:start + block]], dtype=np.float32).mean(axis=0)
    return out


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
        frame, stats["adaptation"][slot] = label_slot(slot, pred, category_of, text, schema, config)
        release_pages(pred.embedding)
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
    return content_key("labels/v3", products[["cid", "category"]].sort_values("cid").reset_index(drop=True),
                       sorted(zip(images["cid"], (file_sha256(p) for p in images["image_path"]))),
                       [file_sha256(c) for c in checkpoints],
                       slot_classifiers.astype(str),
                       sorted(image_slots),
                       anchors.sort_values(["cid", "slot", "value"]).reset_index(drop=True), asdict(config))
