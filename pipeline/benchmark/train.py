"""Train MuJo-SF, its baselines and its ablations on a MAVP build, each content-keyed.

Every run is a :class:`Variant` of one registry: which model, which losses, which labels. A
run lives under ``<models>/mujo_sf/<variant>/<key>/`` (``model.pt``, the tokenizer, the
predictions of the validation and test instances, ``record.json`` written last); the key
hashes the variant, the settings and the data, so a rerun with nothing changed trains nothing.
All runs of one data and settings start from the same seeded weights.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.backbones import load_fitting, read_state
from models.mujo_sf import ImageSlotClassifier, MuJoSF, TextSlotClassifier, add_slot_tokens, joint_loss
from models.text import SmallBertConfig, TextEncoder, build_char_encoder, load_text_encoder
from models.training import LAST_CHECKPOINT, Batches, TrainConfig, atomic_save, fit, resolve_device
from pipeline.benchmark.config import MujoSFConfig
from pipeline.benchmark.data import SlotData
from pipeline.benchmark.metrics import IGNORE, instance_scores
from pipeline.io import content_key, write_json
from pipeline.progress import training_progress

RECORD_FILE, MODEL_FILE, PREDICTIONS_FILE = "record.json", "model.pt", "predictions.npz"
EVALUATED = ("validation", "test")


@dataclass(frozen=True)
class Variant:
    name: str
    label: str                          # its row name in the tables
    model: str                          # joint (MuJo-SF), text (BERT only) or image (Swin only)
    cross_attention: bool = True
    text_loss: bool = True              # False: λ1 = 0 (Table VIII "w/o T-D loss")
    image_loss: bool = True             # False: λ2 = 0 ("w/o I-D loss")
    reliable_only: bool = False         # image labels below the benchmark's min_reliability left out

    @property
    def scores_text(self) -> bool:
        return self.model in ("joint", "text") and self.text_loss

    @property
    def scores_image(self) -> bool:
        return self.model in ("joint", "image") and self.image_loss


VARIANTS = {v.name: v for v in (
    Variant("mujo_sf", "MuJo-SF", "joint"),
    Variant("text_only", "BERT (text only)", "text"),
    Variant("image_only", "Swin (image only)", "image"),
    Variant("without_cross_attention", "-w/o cross attention", "joint", cross_attention=False),
    Variant("without_td_loss", "-w/o T-D loss", "joint", text_loss=False),
    Variant("without_id_loss", "-w/o I-D loss", "joint", image_loss=False),
    Variant("image_only_reliable", "Swin (image only), reliable labels only", "image", reliable_only=True),
)}


def text_encoder(config: MujoSFConfig, data: SlotData) -> TextEncoder:
    """The configured BERT, or a random-init character BERT over the training texts, the slot
    names and the candidates (room for the prompt of every slot)."""
    if config.text_encoder:
        return load_text_encoder(config.text_encoder)
    slots = data.text_slots
    texts = [*data.frame["text"].iloc[data.rows("train")], *slots.labels, *[v for c in slots.candidates for v in c]]
    prompt = 2 + sum(1 + len(label) for label in slots.labels)
    size = SmallBertConfig(hidden_size=config.text_hidden, num_hidden_layers=config.text_layers,
                           num_attention_heads=config.text_heads, intermediate_size=2 * config.text_hidden,
                           max_position_embeddings=max(config.max_length, prompt))
    return build_char_encoder(texts, size)


def image_encoder(config: MujoSFConfig) -> nn.Module:
    """The timm image encoder (no head), from its local weights when configured."""
    from pipeline.distant.train import backbone_spec

    model = backbone_spec(config).create()
    return load_fitting(model, read_state(config.weights), config.weights) if config.weights else model


def build_model(variant: Variant, config: MujoSFConfig, data: SlotData) -> tuple[nn.Module, TextEncoder]:
    torch.manual_seed(config.seed)
    encoder = text_encoder(config, data)
    if variant.model == "text":
        return TextSlotClassifier(encoder.model, data.text_slots, config.dropout), encoder
    image = image_encoder(config)
    if variant.model == "image":
        return ImageSlotClassifier(image, data.image_slots, config.dropout), encoder
    add_slot_tokens(encoder.tokenizer, encoder.model, len(data.text_slots))
    return MuJoSF(encoder.model, encoder.tokenizer, image, data.text_slots, data.image_slots, config.dropout,
                  variant.cross_attention), encoder


def training_targets(variant: Variant, data: SlotData, min_reliability: float) -> np.ndarray:
    """The image targets a variant trains on: all, or without the labels below ``min_reliability``."""
    if not variant.reliable_only:
        return data.image_targets
    low = ~np.isnan(data.image_reliability) & (data.image_reliability < min_reliability)
    return np.where(low, IGNORE, data.image_targets)


class Instances:
    """Tensors of instances by row: tokens, pixels and targets."""

    def __init__(self, data: SlotData, tokenizer, max_length: int, image_targets: np.ndarray):
        enc = tokenizer(data.frame["text"].tolist(), padding="max_length", truncation=True, max_length=max_length,
                        return_tensors="np")
        self.input_ids, self.attention_mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
        self.data, self.image_targets = data, image_targets

    def batch(self, idx: np.ndarray) -> dict[str, torch.Tensor]:
        idx = np.sort(idx)
        width = max(1, int(self.attention_mask[idx].sum(1).max()))     # padded to the batch's longest text only
        return {"input_ids": torch.from_numpy(self.input_ids[idx, :width]),
                "attention_mask": torch.from_numpy(self.attention_mask[idx, :width]),
                "pixels": torch.from_numpy(np.asarray(self.data.pixels[self.data.pixel_row[idx]])),
                "text_targets": torch.from_numpy(self.data.text_targets[idx]),
                "image_targets": torch.from_numpy(self.image_targets[idx])}


@torch.no_grad()
def predict(model: nn.Module, instances: Instances, rows: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Candidate index per (instance, slot) for ``rows`` (in order); IGNORE for a head the model lacks."""
    model.eval()
    device = next(model.parameters()).device
    data = instances.data
    out = {"text": np.full((len(rows), len(data.text_slots)), IGNORE, np.int64),
           "image": np.full((len(rows), len(data.image_slots)), IGNORE, np.int64)}
    for start in range(0, len(rows), batch_size):
        idx = rows[start:start + batch_size]
        order = np.argsort(idx, kind="stable")           # batch() sorts its rows
        batch = {k: v.to(device) for k, v in instances.batch(idx).items()}
        outputs = model(batch)
        for kind in ("text", "image"):
            for j, logits in enumerate(outputs[kind]):
                out[kind][start + order, j] = logits.argmax(-1).cpu().numpy()
    return out


def validation_score(model: nn.Module, instances: Instances, variant: Variant) -> float:
    """Mean validation SA over the slot types the variant trains (against the dataset's labels)."""
    rows = instances.data.rows("validation")
    predicted = predict(model, instances, rows)
    scores = []
    if variant.scores_text:
        scores.append(np.nanmean(instance_scores(predicted["text"], instances.data.text_targets[rows])[1]))
    if variant.scores_image:
        scores.append(np.nanmean(instance_scores(predicted["image"], instances.data.image_targets[rows])[1]))
    finite = [s for s in scores if s == s]
    return float(np.mean(finite)) if finite else 0.0


def run_key(variant: Variant, config: MujoSFConfig, data: SlotData, min_reliability: float) -> str:
    return content_key("mujo_sf/v2", asdict(variant), asdict(config), data.key,
                       min_reliability if variant.reliable_only else None)


def train_variant(variant: Variant, config: MujoSFConfig, data: SlotData, models_dir: Path,
                  min_reliability: float = 0.0) -> dict:
    """Train (or reuse) one variant; returns its record (``reused`` says which)."""
    folder = models_dir / variant.name / run_key(variant, config, data, min_reliability)
    if (folder / RECORD_FILE).is_file():
        return {**json.loads((folder / RECORD_FILE).read_text(encoding="utf-8")), "reused": True}
    t0 = time.perf_counter()
    model, encoder = build_model(variant, config, data)
    targets = training_targets(variant, data, min_reliability)
    instances = Instances(data, encoder.tokenizer, config.max_length, targets)
    train_rows = data.rows("train")
    lambdas = (config.lambda_text if variant.text_loss else 0.0, config.lambda_image if variant.image_loss else 0.0)

    def epoch_batches(epoch: int) -> Batches:
        return Batches(np.random.default_rng([config.seed, epoch]).permutation(train_rows), config.batch_size,
                       instances.batch)

    train_config = TrainConfig(epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay,
                               warmup_fraction=config.warmup_fraction, patience=config.patience, seed=config.seed,
                               device=config.device)
    result = fit(model, epoch_batches, lambda m, b: joint_loss(m(b), b, *lambdas), train_config,
                 evaluate=lambda m: validation_score(m, instances, variant), checkpoint_dir=folder,
                 progress=training_progress(f"training {variant.name}"))
    evaluated = np.concatenate([data.rows(s) for s in EVALUATED])
    predicted = predict(model, instances, evaluated)
    full = {k: np.full((len(data.frame), v.shape[1]), IGNORE, np.int64) for k, v in predicted.items()}
    for k in full:
        full[k][evaluated] = predicted[k]
    np.savez(folder / PREDICTIONS_FILE, **full)
    model.cpu()
    atomic_save({"state_dict": model.state_dict(), "variant": asdict(variant), "config": asdict(config)},
                folder / MODEL_FILE)
    encoder.tokenizer.save_pretrained(folder / "tokenizer")
    (folder / LAST_CHECKPOINT).unlink(missing_ok=True)      # the epoch checkpoint: model.pt is the result
    record = {"variant": variant.name, "label": variant.label, "dir": str(folder), "config": asdict(config),
              "min_reliability": min_reliability if variant.reliable_only else None,
              "train_instances": int(len(train_rows)),
              "trained_labels": {"image": int((targets[train_rows] != IGNORE).sum()),
                                 "image_all": int((data.image_targets[train_rows] != IGNORE).sum())},
              "parameters": int(sum(p.numel() for p in model.parameters())),
              "epochs": result.epochs_run, "best_epoch": result.best_epoch, "best_validation_sa": result.best_score,
              "history": result.history, "seconds": round(time.perf_counter() - t0, 1),
              "train_instances_per_second": round(result.examples_per_second, 1),
              "device": str(resolve_device(config.device))}
    write_json(record, folder / RECORD_FILE)
    return {**record, "reused": False}


def load_predictions(record: dict) -> dict[str, np.ndarray]:
    with np.load(Path(record["dir"]) / PREDICTIONS_FILE) as npz:
        return {k: npz[k] for k in npz.files}
