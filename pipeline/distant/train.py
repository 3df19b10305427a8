"""Train one attribute classifier on a source's images and score it per task.

Batches index the decoded pixel array (no per-image work in the loop); the training images are
mirrored half of the time. Early stopping watches the mean validation accuracy over the
model's tasks; the test split is only read once, after training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from models.attributes import (AttributeClassifier, BackboneSpec, TaskHead, build_attribute_classifier,
                               multitask_loss, probabilities, save_classifier, top1_hits)
from models.backbones import normalize_pixels
from models.probe import GridProbe, build_probe
from models.training import Batches, TrainConfig, fit, is_main_process, resolve_device
from pipeline.distant.config import ClassifierConfig, TimmImageModel
from pipeline.distant.data import SourceImages
from pipeline.distant.selection import value_probabilities
from pipeline.progress import Progress, training_progress

MODEL_FILE = "model.pt"


@dataclass
class TrainedClassifier:
    name: str
    strategy: str
    tasks: list[str]
    path: str
    row_modes: dict[str, str]
    train_images: int
    validation_accuracy: dict[str, float]
    test_accuracy: dict[str, float]
    test_value_accuracy: dict[str, float]
    test_images: dict[str, int]
    epochs: int
    seconds: float
    train_images_per_second: float
    inference_images_per_second: float
    history: list[dict] = field(default_factory=list)
    temperatures: dict[str, float] = field(default_factory=dict)


def backbone_spec(config: TimmImageModel) -> BackboneSpec:
    kwargs: tuple = ()
    if config.custom_arch:
        kwargs = (("img_size", config.image_size), ("patch_size", config.patch_size),
                  ("window_size", config.window_size), ("embed_dim", config.embed_dim),
                  ("depths", tuple(config.depths)), ("num_heads", tuple(config.num_heads)),
                  ("drop_path_rate", config.drop_path_rate))
    return BackboneSpec(config.backbone, kwargs, config.drop_rate, config.stem)


def augment(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Mirror half the batch and shift each image by up to ``max_shift`` pixels (edge pixels
    repeat); neither changes a garment's lengths, neckline or colour. Shifting is off by default:
    within the sample's 20-epoch budget it slowed learning more than it helped."""
    flip = torch.rand(len(x), device=x.device) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    padded = nn.functional.pad(x, (max_shift,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h) + dy.view(n, 1))          # (n, h)
    cols = (torch.arange(w, device=x.device).view(1, w) + dx.view(n, 1))          # (n, w)
    index = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[index, rows.view(n, h, 1), cols.view(n, 1, w)].permute(0, 3, 1, 2)


Classifier = AttributeClassifier | GridProbe


def model_input(model: Classifier, batch: np.ndarray) -> torch.Tensor:
    """What the model reads from a batch of its inputs: pooled features as they are, uint8
    NHWC pixels ImageNet-normalised."""
    x = torch.from_numpy(np.array(batch))          # a copy: memory-mapped pixels are read-only
    return x.float() if isinstance(model, GridProbe) else normalize_pixels(x)


def predict_logits(model: Classifier, inputs: np.ndarray, rows: np.ndarray | None = None, batch_size: int = 256,
                   progress: str | None = None) -> dict[str, np.ndarray]:
    """Logits per task for ``inputs[rows]`` (pixels or features), batched; counted on a
    progress meter named ``progress`` when one is given."""
    device = next(model.parameters()).device
    rows = np.arange(len(inputs)) if rows is None else np.asarray(rows)
    parts: dict[str, list[np.ndarray]] = {h.name: [] for h in model.task_heads}
    model.eval()
    with torch.no_grad(), Progress(progress, len(rows), "image") as meter:
        for start in range(0, len(rows), batch_size):
            x = model_input(model, inputs[rows[start:start + batch_size]]).to(device)
            for name, logits in model(x).items():
                parts[name].append(logits.float().cpu().numpy())
            meter.update(len(x))
    return {name: np.concatenate(p) if p else np.zeros((0, 0), np.float32) for name, p in parts.items()}


def predict_probabilities(model: Classifier, inputs: np.ndarray, rows: np.ndarray | None = None,
                          batch_size: int = 256, progress: str | None = None,
                          temperatures: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
    """Class probabilities per task (logits divided by the task's temperature, 1 when not given)."""
    multi = {h.name: h.multi_label for h in model.task_heads}
    logits = predict_logits(model, inputs, rows, batch_size, progress)
    return {name: probabilities(torch.from_numpy(z) / (temperatures or {}).get(name, 1.0), multi[name]).numpy()
            for name, z in logits.items()}


def value_hits(probs: np.ndarray, targets: np.ndarray, class_values: Sequence[str | None],
               multi_label: bool = False) -> np.ndarray:
    """Per row: whether the MAVP value labeling would emit (:func:`value_probabilities`) is one
    of the true labels' values; NaN where no true label maps to a value."""
    names = sorted({v for v in class_values if v})
    if not names:
        return np.full(len(probs), np.nan)
    predicted = value_probabilities(probs, class_values, names, multi_label).argmax(axis=1)
    truth = value_probabilities(targets, class_values, names, multi_label=True) > 0
    hits = truth[np.arange(len(probs)), predicted].astype(float)
    return np.where(truth.any(axis=1), hits, np.nan)


@dataclass
class SplitScores:
    accuracy: dict[str, float]          # top-1 over the source's labels (Tables I-IV)
    value_accuracy: dict[str, float]    # top-1 after mapping labels to MAVP values (NaN: task has no slot)
    images: dict[str, int]
    distinct_images: int = 0            # images run through the model (one per image, not per task)


def _mean_or_nan(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return round(float(x.mean()), 4) if len(x) else float("nan")


def accuracy_by_task(model: Classifier, data: SourceImages, masks: Mapping[str, np.ndarray], split: str,
                     values: Mapping[str, Sequence[str | None]] | None = None) -> SplitScores:
    """Accuracy per task over the split's images that the task's row mask selects."""
    values = values or {}
    scores = SplitScores({}, {}, {})
    rows_by_task = {t: np.flatnonzero(m & data.in_split(split)) for t, m in masks.items()}
    needed = np.unique(np.concatenate([r for r in rows_by_task.values()] or [np.zeros(0, np.int64)]))
    probs = predict_probabilities(model, data.inputs, needed) if len(needed) else {}
    multi = {h.name: h.multi_label for h in model.task_heads}
    where = {row: i for i, row in enumerate(needed)}
    scores.distinct_images = int(len(needed))
    for task, rows in rows_by_task.items():
        scores.images[task] = int(len(rows))
        if not len(rows):
            scores.accuracy[task] = scores.value_accuracy[task] = float("nan")
            continue
        p = probs[task][[where[r] for r in rows]]
        y = data.tasks[task].targets[rows]
        scores.accuracy[task] = _mean_or_nan(top1_hits(torch.from_numpy(p), torch.from_numpy(y)).float().numpy())
        scores.value_accuracy[task] = _mean_or_nan(value_hits(p, y, values.get(task, [None] * y.shape[1]), multi[task]))
    return scores


def train_classifier(data: SourceImages, name: str, strategy: str, tasks: Sequence[str],
                     row_modes: Mapping[str, str], config: ClassifierConfig, out_dir: Path,
                     multi_label: Mapping[str, bool] | None = None,
                     values: Mapping[str, Sequence[str | None]] | None = None,
                     stop_after_epochs: int | None = None, features: Mapping | None = None) -> TrainedClassifier:
    """Train a model with one head per task on the images ``row_modes`` select, save it as
    ``out_dir/model.pt`` (epoch checkpoints in ``out_dir``) and score it on validation and test.
    A run stopped early (``stop_after_epochs``, or killed) continues from ``out_dir/last.pt``.
    ``features`` says how a ``grid_probe``'s inputs are made (saved with it, for labelling).
    Each task's softmax temperature is fitted on the validation split and saved beside the weights."""
    t0 = time.perf_counter()
    multi_label = multi_label or {t: data.tasks[t].multi_label for t in tasks}
    heads = [TaskHead(t, data.tasks[t].classes, bool(multi_label[t])) for t in tasks]
    masks = {t: data.tasks[t].rows(row_modes[t]) for t in tasks}
    train_rows = np.flatnonzero(np.logical_or.reduce([masks[t] for t in tasks]) & data.in_split("train"))
    targets = {t: torch.from_numpy(data.tasks[t].targets) for t in tasks}
    has = {t: torch.from_numpy(masks[t]) for t in tasks}

    torch.manual_seed(config.seed)
    probe = config.kind == "grid_probe"
    model = (build_probe(data.inputs[train_rows], heads) if probe
             else build_attribute_classifier(backbone_spec(config), heads, config.weights or None))

    def batch(idx: np.ndarray) -> dict[str, torch.Tensor]:
        idx = np.sort(idx)                       # sequential reads from the memory map
        out = {"x": torch.from_numpy(np.asarray(data.inputs[idx]))}
        idx_t = torch.from_numpy(idx)
        for t in tasks:
            out[f"y:{t}"], out[f"has:{t}"] = targets[t][idx_t], has[t][idx_t]
        return out

    def epoch_batches(epoch: int) -> Batches:
        order = np.random.default_rng([config.seed, epoch]).permutation(train_rows)
        return Batches(order, config.batch_size, batch)

    def loss_fn(m: Classifier, b: dict[str, torch.Tensor]) -> torch.Tensor:
        x = b["x"].float() if probe else augment(normalize_pixels(b["x"]), config.max_shift)
        return multitask_loss(m(x), b, heads)

    def evaluate(m: AttributeClassifier) -> float:
        scores = accuracy_by_task(m, data, masks, "validation").accuracy
        finite = [s for s in scores.values() if s == s]
        return float(np.mean(finite)) if finite else 0.0

    train_config = TrainConfig(epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay,
                               warmup_fraction=config.warmup_fraction, patience=config.patience, seed=config.seed)
    result = fit(model, epoch_batches, loss_fn, train_config, evaluate=evaluate, checkpoint_dir=out_dir,
                 stop_after_epochs=stop_after_epochs, progress=training_progress(f"training {name}"))
    val = accuracy_by_task(model, data, masks, "validation", values)
    t_inf = time.perf_counter()
    test = accuracy_by_task(model, data, masks, "test", values)
    inference_ips = test.distinct_images / max(1e-9, time.perf_counter() - t_inf)
    model.cpu()
    temperatures = {t: validation_temperature(model, data, masks[t], t) for t in tasks}
    inputs = {"features": dict(features or {})} if probe else {"image_size": int(data.inputs.shape[1])}
    if is_main_process():                  # under torchrun every rank holds the same weights; one writes them
        save_classifier(model, out_dir / MODEL_FILE, extra={"source": data.source, "strategy": strategy,
                                                            "temperatures": temperatures, **inputs})
    return TrainedClassifier(
        name=name, strategy=strategy, tasks=list(tasks), path=str(out_dir / MODEL_FILE), row_modes=dict(row_modes),
        train_images=int(len(train_rows)), validation_accuracy=val.accuracy, test_accuracy=test.accuracy,
        test_value_accuracy=test.value_accuracy, test_images=test.images,
        epochs=result.epochs_run, seconds=round(time.perf_counter() - t0, 2),
        train_images_per_second=round(result.examples_per_second, 1),
        inference_images_per_second=round(inference_ips, 1), history=result.history, temperatures=temperatures)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The softmax temperature that minimises the negative log-likelihood of ``labels``
    (Guo et al., 2017), searched on a log grid (one parameter: a grid is exact enough)."""
    if not len(labels):
        return 1.0
    z, y = torch.from_numpy(logits).float(), torch.from_numpy(labels).long()
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    nll = [float(nn.functional.cross_entropy(z / t, y)) for t in grid]
    return round(float(grid[int(np.argmin(nll))]), 4)


def validation_temperature(model: Classifier, data: SourceImages, mask: np.ndarray, task: str) -> float:
    """Temperature of one single-label head on its validation images (1 for a multi-label head:
    its sigmoids are not a softmax)."""
    head = next(h for h in model.task_heads if h.name == task)
    rows = np.flatnonzero(mask & data.in_split("validation") & (data.tasks[task].counts == 1))
    if head.multi_label or not len(rows):
        return 1.0
    logits = predict_logits(model, data.inputs, rows)[task]
    return fit_temperature(logits, data.tasks[task].targets[rows].argmax(axis=1))


def device_name() -> str:
    return str(resolve_device("auto"))
