"""A vision source's images, labels per task and seeded 8:1:1 split, ready for training.

The source tables (one row per image and task, from ``pipeline.sources``) become one row per
image with, for every task, a multi-hot target over the task's classes (the source's own label
names, as the paper's Tables I-IV report them) and whether the image carries a label for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from pipeline.io import content_key
from pipeline.pixels import decode_images
from pipeline.splits import SPLITS, split_811

ROW_MODES = ("single", "all", "multi_only")


@dataclass
class TaskLabels:
    classes: tuple[str, ...]
    targets: np.ndarray          # (N, C) float32 multi-hot
    counts: np.ndarray           # (N,) labels per image (0: not labelled for this task)

    @property
    def multi_label(self) -> bool:
        return bool((self.counts > 1).any())

    def rows(self, mode: str) -> np.ndarray:
        """Images a strategy uses: exactly one label, any label, or several labels."""
        if mode == "single":
            return self.counts == 1
        if mode == "all":
            return self.counts >= 1
        if mode == "multi_only":
            return self.counts > 1
        raise ValueError(f"row mode {mode!r}: expected one of {ROW_MODES}")


@dataclass
class SourceImages:
    source: str
    image_ids: list[str]
    split: np.ndarray            # (N,) of SPLITS
    inputs: np.ndarray           # what a model reads: (N, S, S, 3) uint8 pixels (memory-mapped) or (N, D) features
    tasks: dict[str, TaskLabels]
    rejects: pd.DataFrame
    inputs_key: str
    features: dict | None = None              # how features were made (grid_probe): backbone settings, pooling

    def in_split(self, name: str) -> np.ndarray:
        return self.split == name

    def summary(self) -> dict:
        return {"images": len(self.image_ids), "rejected_images": int(len(self.rejects)),
                "by_split": {s: int(self.in_split(s).sum()) for s in SPLITS}}


def _images(table: pd.DataFrame, tasks: Sequence[str]) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    source = str(table["source"].iloc[0]) if len(table) else "unknown"
    rows = table[table["task"].isin(tasks)]
    return source, rows, rows.drop_duplicates("image_id").sort_values("image_id")


def load_source_images(table: pd.DataFrame, tasks: Sequence[str], image_size: int, split_seed: int,
                       cache_dir: Path | str | None, workers: int = 2) -> SourceImages:
    """Images of ``table`` labelled for any of ``tasks``, decoded once at ``image_size``.

    An image that cannot be decoded goes to rejects with its reason; a task absent from the
    table is kept with no classes (its strategy then trains nothing and says so).
    """
    source, rows, images = _images(table, tasks)
    decoded = decode_images(images["image_path"].tolist(), image_size, cache_dir, workers, source=source)
    kept = images.iloc[decoded.kept]
    rejects = decoded.rejects
    if len(rejects):
        rejects = rejects.assign(record=rejects["location"].map(dict(zip(images["image_path"], images["image_id"]))))
    return _labelled(source, rows, kept["image_id"].astype(str).tolist(), tasks, split_seed, decoded.pixels,
                     rejects, decoded.key)


def load_source_features(table: pd.DataFrame, tasks: Sequence[str], split_seed: int, plain, augmented,
                         cache_dir: Path | str, workers: int = 2) -> SourceImages:
    """As :func:`load_source_images`, with pooled backbone features instead of pixels: each
    training image as the ``augmented`` extractor sees it (None: plain), every other image as
    the ``plain`` one does (:mod:`pipeline.distant.features`)."""
    from pipeline.distant.features import image_features

    source, rows, images = _images(table, tasks)
    ids = images["image_id"].astype(str).tolist()
    paths = images["image_path"].tolist()
    in_train = split_811(ids, split_seed) == "train"
    parts, keys = [], []
    views = [(augmented, in_train), (plain, ~in_train)] if augmented else [(plain, np.ones(len(ids), bool))]
    for extractor, chosen in views:
        picked = np.flatnonzero(chosen)
        parts.append(image_features([ids[i] for i in picked], [paths[i] for i in picked], extractor, cache_dir, workers))
        keys.append(extractor.config())
    where = {image_id: (part, row) for part, got in enumerate(parts) for row, image_id in enumerate(got.ids)}
    kept = [i for i in ids if i in where]
    features = np.stack([parts[where[i][0]].features[where[i][1]] for i in kept]) if kept else np.zeros((0, 1), np.float32)
    rejects = pd.concat([got.rejects for got in parts], ignore_index=True).assign(source=source)
    return _labelled(source, rows, kept, tasks, split_seed, features, rejects, content_key("features/v1", keys, kept))


def _labelled(source: str, rows: pd.DataFrame, image_ids: list[str], tasks: Sequence[str], split_seed: int,
              inputs: np.ndarray, rejects: pd.DataFrame, inputs_key: str) -> SourceImages:
    index = {image_id: i for i, image_id in enumerate(image_ids)}
    task_labels = {}
    for task in tasks:
        labelled = rows[(rows["task"] == task) & rows["image_id"].isin(index)]
        classes = tuple(sorted({label for labels in labelled["labels"] for label in labels}))
        col = {c: j for j, c in enumerate(classes)}
        targets = np.zeros((len(image_ids), len(classes)), np.float32)
        for image_id, labels in zip(labelled["image_id"], labelled["labels"]):
            for label in labels:
                targets[index[image_id], col[label]] = 1.0
        task_labels[task] = TaskLabels(classes, targets, targets.sum(axis=1).astype(np.int64))
    return SourceImages(source, image_ids, split_811(image_ids, split_seed), inputs, task_labels,
                        rejects.astype("string"), inputs_key)
