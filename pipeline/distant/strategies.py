"""The paper's training strategies per source (section III-B2), with content-keyed reuse.

- FashionAI: one multi-task single-label model over its tasks.
- UT-ZAP50K: one joint multi-task model (multi-label heads where images carry several labels),
  then a single-task model for each task the joint model does poorly on (validation accuracy
  below a threshold; the paper chose by test results, which would leak the test split).
- iFashion: per label group, single-label (images with one label), multi-label-mix (all
  images, sigmoid heads) and multi-label (only the images with several labels).
- Crawled images: a single-label model per attribute folder.

Every model of a source lives under ``<models>/<source>/<key>/<model name>/``; the key hashes
the source's image contents, labels and the config, so a rerun with nothing changed trains
nothing and reads ``results.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from models.augment import AugmentConfig
from models.training import is_main_process
from pipeline.distant.config import (ClassifierConfig, CrawlTraining, FashionAITraining, IFashionTraining,
                                     UTZap50kTraining)
from pipeline.distant.data import SourceImages, load_source_features, load_source_images
from pipeline.distant.train import TrainedClassifier, device_name, train_classifier
from pipeline.io import content_key, write_json, write_parquet
from pipeline.saliency.config import RegionConfig
from pipeline.schema import Schema, default_schema
from pipeline.sources.registry import source as source_spec

RESULTS_FILE = "results.json"
# Row mode and head type of each single-task strategy.
SINGLE_TASK_MODES = {"single_label": ("single", False), "multi_label_mix": ("all", True),
                     "multi_label": ("multi_only", True), "single_task": ("all", None)}


def label_values(data: SourceImages, schema: Schema) -> dict[str, list[str | None]]:
    """The MAVP value of every class of every task (None: the label maps to no value)."""
    out = {}
    for task, labels in data.tasks.items():
        entries = [schema.map_label(data.source, task, c) for c in labels.classes]
        out[task] = [e.value if e else None for e in entries]
    return out


def _train(data: SourceImages, folder: Path, name: str, strategy: str, tasks: list[str], mode: str,
           config: ClassifierConfig, multi: bool | None = None) -> TrainedClassifier | None:
    tasks = [t for t in tasks if data.tasks[t].rows(mode).any()]
    if not tasks:
        return None
    multi_label = None if multi is None else {t: multi for t in tasks}
    return train_classifier(data, name, strategy, tasks, {t: mode for t in tasks}, config, folder / name, multi_label,
                            label_values(data, default_schema()), features=data.features)


def plan_fashionai(data: SourceImages, folder: Path, config: FashionAITraining) -> list[TrainedClassifier]:
    model = _train(data, folder, "multi_task", "multi_task", list(config.tasks), "single", config, multi=False)
    return [model] if model else []


def plan_utzap50k(data: SourceImages, folder: Path, config: UTZap50kTraining) -> list[TrainedClassifier]:
    joint = _train(data, folder, "joint", "joint", list(config.tasks), "all", config)
    if joint is None:
        return []
    models = [joint]
    for task in joint.tasks:
        if task in config.single_task_candidates and joint.validation_accuracy[task] < config.single_task_below:
            single = _train(data, folder, f"single_task-{task}", "single_task", [task], "all", config)
            models += [single] if single else []
    return models


def _plan_single_tasks(data: SourceImages, folder: Path, config: ClassifierConfig,
                       strategies: tuple[str, ...]) -> list[TrainedClassifier]:
    models = []
    for task in config.tasks:
        for strategy in strategies:
            mode, multi = SINGLE_TASK_MODES[strategy]
            model = _train(data, folder, f"{strategy}-{task}", strategy, [task], mode, config, multi)
            models += [model] if model else []
    return models


def plan_ifashion(data: SourceImages, folder: Path, config: IFashionTraining) -> list[TrainedClassifier]:
    return _plan_single_tasks(data, folder, config, tuple(config.strategies))


def plan_crawl(data: SourceImages, folder: Path, config: CrawlTraining) -> list[TrainedClassifier]:
    return _plan_single_tasks(data, folder, config, ("single_label",))


def task_statistics(data: SourceImages) -> pd.DataFrame:
    """#images and #multi-label images per task (the first rows of Tables I-IV)."""
    return pd.DataFrame([{"task": t, "classes": list(lab.classes), "images": int((lab.counts >= 1).sum()),
                          "multi_label_images": int((lab.counts > 1).sum())} for t, lab in data.tasks.items()])


def majority_baselines(data: SourceImages) -> dict[str, float]:
    """Per task: the test accuracy of always answering the training split's most frequent class
    (a hit when that class is one of the image's labels). The chance level a classifier must
    clearly beat; it needs no model, so a reused record gets it too."""
    out = {}
    for task, lab in data.tasks.items():
        labelled = lab.counts >= 1
        train, test = lab.targets[labelled & data.in_split("train")], lab.targets[labelled & data.in_split("test")]
        if not len(train) or not len(test):
            out[task] = float("nan")
            continue
        top = int((train > 0).sum(axis=0).argmax())
        out[task] = round(float((test[:, top] > 0).mean()), 4)
    return out


def results_table(models: list[TrainedClassifier]) -> pd.DataFrame:
    """One row per (model, task): strategy, validation and test accuracy, test support."""
    rows = [{"model": m.name, "strategy": m.strategy, "task": t, "train_images": m.train_images,
             "validation_accuracy": m.validation_accuracy[t], "test_accuracy": m.test_accuracy[t],
             "test_value_accuracy": m.test_value_accuracy[t], "test_images": m.test_images[t], "checkpoint": m.path}
            for m in models for t in m.tasks]
    return pd.DataFrame(rows, columns=["model", "strategy", "task", "train_images", "validation_accuracy",
                                       "test_accuracy", "test_value_accuracy", "test_images", "checkpoint"])


def source_data(table: pd.DataFrame, config: ClassifierConfig, cache_dir: Path,
                backbone: RegionConfig | None = None) -> SourceImages:
    """A source's labelled images as the configured kind of classifier reads them: pixels at
    ``image_size`` (``finetune``) or pooled features of the frozen ``backbone`` (``grid_probe``)."""
    if config.kind == "finetune":
        return load_source_images(table, list(config.tasks), config.image_size, config.split_seed, cache_dir,
                                  config.decode_workers)
    if backbone is None:
        raise ValueError("a grid_probe classifier needs the region backbone's settings")
    from pipeline.distant.features import feature_extractor

    plain = feature_extractor(backbone, config.pool)
    augmented = feature_extractor(backbone, config.pool, AugmentConfig(), config.seed) if config.augment else None
    data = load_source_features(table, list(config.tasks), config.split_seed, plain, augmented, cache_dir,
                                config.decode_workers)
    data.features = {"backbone": asdict(backbone), "pool": config.pool}
    return data


def train_source(source: str, table: pd.DataFrame, config: ClassifierConfig, models_dir: Path,
                 cache_dir: Path, backbone: RegionConfig | None = None) -> dict:
    """Train (or reuse) every model of one source; returns the source's results record."""
    data = source_data(table, config, cache_dir, backbone)
    classes = {t: list(lab.classes) for t, lab in data.tasks.items()}
    targets = np.concatenate([lab.targets.ravel() for lab in data.tasks.values()] or [np.zeros(0, np.float32)])
    key = content_key("distant/v3", source, asdict(config), data.inputs_key, data.image_ids, classes, targets)
    folder = models_dir / source / key
    results_path = folder / RESULTS_FILE
    baselines = {"test_majority_baseline": majority_baselines(data)}
    if results_path.is_file():
        record = json.loads(results_path.read_text(encoding="utf-8"))
        return {**record, **baselines, "reused": True}
    models = source_spec(source).training_plan()(data, folder, config)
    stats = task_statistics(data)
    record = {"source": source, "key": key, "dir": str(folder), "config": asdict(config), "device": device_name(),
              "data": data.summary(), "tasks": stats.to_dict("records"),
              "results": results_table(models).to_dict("records"), "models": [asdict(m) for m in models],
              "rejects_path": str(folder / "rejects.parquet")}
    if is_main_process():
        write_parquet(data.rejects, folder / "rejects.parquet")
        write_json(record, results_path)
    return {**record, **baselines, "reused": False}
