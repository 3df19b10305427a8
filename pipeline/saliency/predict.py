"""Training and validation of the two masked value predictors over several seeds.

Both predictors see exactly the same instances (those whose product has region features), in
the same order per seed, so a_M - a_T compares like with like. A run returns one row per
(mode, seed, validation instance) with the predicted value and whether it was right.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from models.masked_value import MultimodalMaskedValuePredictor, TextMaskedValuePredictor
from models.text import SmallBertConfig, TextEncoder, build_char_encoder, load_text_encoder, masked_token_ids
from models.training import Batches, TrainConfig, fit, seed_everything
from pipeline.progress import training_progress
from pipeline.saliency.config import PredictorConfig
from pipeline.saliency.regions import RegionTable

MODES = ("text", "multimodal")
TRAIN_SPLIT, EVAL_SPLIT = "train", "validation"


@dataclass
class EncodedInstances:
    """Token ids (padded once, so a batch is a slice) and region rows of instances."""

    frame: pd.DataFrame                 # the instances (reset index)
    input_ids: np.ndarray               # (N, T) padded with pad_id
    lengths: np.ndarray                 # (N,) real tokens per row
    mask_pos: np.ndarray
    region_rows: np.ndarray
    targets: np.ndarray

    def batch(self, idx: np.ndarray, regions: RegionTable | None, token_dropout: float = 0.0, unk_id: int = 0,
              rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
        lengths = self.lengths[idx]
        width = int(lengths.max()) if len(idx) else 1
        ids = self.input_ids[idx, :width].copy()
        positions = np.arange(width)[None, :]
        attention = positions < lengths[:, None]
        if token_dropout > 0 and rng is not None:
            # context tokens replaced by [UNK] (never [CLS], [SEP] or the [MASK] itself), so that
            # a unique sentence cannot be memorised whole and the slot's context words must do
            context = (positions >= 1) & (positions < lengths[:, None] - 1) & (positions != self.mask_pos[idx, None])
            ids[context & (rng.random(ids.shape) < token_dropout)] = unk_id
        out = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(attention.astype(np.int64)),
               "mask_index": torch.from_numpy(self.mask_pos[idx]), "y": torch.from_numpy(self.targets[idx])}
        if regions is not None:
            feats, mask = regions.gather(self.region_rows[idx])
            out["regions"], out["region_mask"] = torch.from_numpy(feats), torch.from_numpy(mask)
        return out


def encode(instances: pd.DataFrame, encoder: TextEncoder, regions: RegionTable, max_length: int) -> EncodedInstances:
    frame = instances.reset_index(drop=True)
    pairs = [masked_token_ids(encoder.tokenizer, r.text, r.start, r.end, max_length)
             for r in frame.itertuples(index=False)]
    lengths = np.asarray([len(ids) for ids, _ in pairs], dtype=np.int64)
    input_ids = np.full((len(pairs), max(1, int(lengths.max(initial=1)))), encoder.tokenizer.pad_token_id, np.int64)
    for i, (ids, _) in enumerate(pairs):
        input_ids[i, :len(ids)] = ids
    return EncodedInstances(frame, input_ids, lengths, np.asarray([p[1] for p in pairs], dtype=np.int64),
                            regions.rows(frame["cid"].tolist()), frame["value_id"].to_numpy(np.int64))


def make_encoder(config: PredictorConfig, train_texts: Sequence[str]) -> TextEncoder:
    if config.encoder:
        return load_text_encoder(config.encoder)
    size = SmallBertConfig(hidden_size=config.hidden_size, num_hidden_layers=config.num_layers,
                           num_attention_heads=config.num_heads, intermediate_size=config.intermediate_size,
                           max_position_embeddings=config.max_length, dropout=config.dropout)
    return build_char_encoder(train_texts, size)


def build_predictor(mode: str, encoder: TextEncoder, num_values: int, region_dim: int,
                    config: PredictorConfig) -> nn.Module:
    if mode == "text":
        return TextMaskedValuePredictor(encoder.model, num_values, config.dropout)
    return MultimodalMaskedValuePredictor(encoder.model, region_dim, num_values, config.fusion_dim, config.dropout,
                                          config.region_dropout)


def _forward(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    args = (batch["input_ids"], batch["attention_mask"], batch["mask_index"])
    if "regions" in batch:
        return model(*args, batch["regions"], batch["region_mask"])
    return model(*args)


def train_and_validate(mode: str, seed: int, instances: pd.DataFrame, regions: RegionTable, num_values: int,
                       config: PredictorConfig, save_dir: Path | None = None) -> tuple[pd.DataFrame, dict]:
    """Train one predictor on the train split; predict the validation split."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    t0 = time.perf_counter()
    seed_everything(seed)
    train_rows = instances[instances["split"] == TRAIN_SPLIT]
    eval_rows = instances[instances["split"] == EVAL_SPLIT]
    train_rows, dev_rows = split_dev(train_rows, config.dev_fraction, seed)
    encoder = make_encoder(config, sorted(set(train_rows["text"])))
    train = encode(train_rows, encoder, regions, config.max_length)
    dev = encode(dev_rows, encoder, regions, config.max_length)
    valid = encode(eval_rows, encoder, regions, config.max_length)
    model = build_predictor(mode, encoder, num_values, regions.dim, config)
    use_regions = regions if mode == "multimodal" else None

    unk = encoder.tokenizer.unk_token_id

    def epoch_batches(epoch: int) -> Batches:
        rng = np.random.default_rng([seed, epoch])
        warmup = use_regions is not None and epoch < config.text_warmup_epochs

        def make(idx: np.ndarray) -> dict[str, torch.Tensor]:
            b = train.batch(idx, use_regions, config.token_dropout, unk, rng)
            if warmup:          # one average (zero) region: the gate is its offset, text evidence only
                b["regions"] = torch.zeros_like(b["regions"][:, :1])
                b["region_mask"] = torch.ones_like(b["region_mask"][:, :1])

            return b
        return Batches(rng.permutation(len(train.targets)), config.batch_size, make)

    def loss_fn(m: nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(_forward(m, b), b["y"])

    def dev_accuracy(m: nn.Module) -> float:
        pred, _ = predict(m, dev, use_regions)
        return float((pred == dev.targets).mean())

    result = fit(model, epoch_batches, loss_fn,
                 TrainConfig(epochs=config.epochs, lr=config.lr, warmup_fraction=config.warmup_fraction,
                             seed=seed, weight_decay=config.weight_decay,
                             patience=config.patience if len(dev.targets) else None),
                 evaluate=dev_accuracy if len(dev.targets) else None,
                 progress=training_progress(f"training the {mode} predictor (seed {seed})"))
    pred, prob = predict(model, valid, use_regions)
    out = valid.frame[["cid", "sid", "slot", "value", "value_id", "start", "end"]].copy()
    out.insert(0, "seed", seed)
    out.insert(0, "mode", mode)
    out["predicted_id"] = pred
    out["probability"] = prob
    out["correct"] = pred == out["value_id"].to_numpy()
    if save_dir is not None:
        save_predictor(model, encoder, Path(save_dir))
    info = {"mode": mode, "seed": seed, "train_instances": int(len(train.targets)),
            "dev_instances": int(len(dev.targets)), "validation_instances": int(len(valid.targets)),
            "epochs": result.epochs_run, "best_epoch": result.best_epoch,
            "dev_accuracy": round(result.best_score, 4) if result.best_score is not None else None,
            "final_train_loss": round(result.history[-1]["train_loss"], 4) if result.history else None,
            "instances_per_second": round(result.examples_per_second, 1),
            "validation_accuracy": round(float(out["correct"].mean()), 4) if len(out) else None,
            "seconds": round(time.perf_counter() - t0, 2)}
    return out, info


def split_dev(train_rows: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a seeded share of train *products* (all their instances) for early stopping."""
    cids = np.asarray(sorted(set(train_rows["cid"])))
    n_dev = int(round(len(cids) * fraction))
    if n_dev == 0:
        return train_rows, train_rows.iloc[:0]
    dev_cids = set(np.random.default_rng([seed, 99]).choice(cids, size=n_dev, replace=False))
    is_dev = train_rows["cid"].isin(dev_cids)
    return train_rows[~is_dev], train_rows[is_dev]


@torch.no_grad()
def predict(model: nn.Module, data: EncodedInstances, regions: RegionTable | None,
            batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Arg-max value id and its probability for every instance of ``data``."""
    model.eval()
    preds, probs = [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
    for i in range(0, len(data.targets), batch_size):
        idx = np.arange(i, min(i + batch_size, len(data.targets)))
        p = torch.softmax(_forward(model, data.batch(idx, regions)), dim=-1)
        conf, arg = p.max(dim=-1)
        preds.append(arg.numpy())
        probs.append(conf.numpy())
    return np.concatenate(preds), np.concatenate(probs)


def save_predictor(model: nn.Module, encoder: TextEncoder, directory: Path) -> Path:
    """The encoder via ``save_pretrained`` (loadable by name) and the whole predictor's weights."""
    directory.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(directory / "encoder")
    torch.save(model.state_dict(), directory / "predictor.pt")
    return directory


def run_predictors(mode: str, instances: pd.DataFrame, regions: RegionTable, num_values: int,
                   config: PredictorConfig, save_root: Path | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """Every seed of one mode: validation predictions (all seeds) and per-seed info."""
    regions = regions.standardized()
    frames, infos = [], []
    for seed in config.seeds:
        save_dir = save_root / f"seed-{seed}" if save_root is not None else None
        frame, info = train_and_validate(mode, seed, instances, regions, num_values, config, save_dir)
        frames.append(frame)
        infos.append(info)
    return pd.concat(frames, ignore_index=True), infos
