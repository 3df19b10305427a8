"""Text-anchored adaptation of an image slot's classifier to MEPAVE's own images (beyond the paper).

Some MEPAVE sentences name the value of an image slot ("圆头的鞋头设计" names the toecap). Those
products are labelled examples from the target domain. The slot's source classifier is
fine-tuned on them: its calibrated log-probabilities stay as they are and a linear correction
over the classifier's embedding, starting at zero and held near it by weight decay, is learned
from the anchors. Cross-fitted over K folds of products: a product's label comes from the model
trained on the other folds' anchors, so it never saw that product's text, and Table VI (image
label against the sentence's value) stays a held-out measure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AdaptConfig:
    folds: int = 5                   # K; 0 or 1: no adaptation (source classifier only)
    steps: int = 150
    lr: float = 1e-3
    weight_decay: float = 1e-2
    min_anchors: int = 20            # fewer anchors in the training folds: keep the source classifier
    seed: int = 0


def product_folds(cids: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """Fold of each product from a hash of its cid (stable: adding products moves none)."""
    return np.asarray([int(hashlib.sha256(f"{seed}:{c}".encode()).hexdigest()[:8], 16) % folds for c in cids])


def anchor_values(text: pd.DataFrame, slot: str) -> dict[str, str]:
    """cid -> the value its sentences name for ``slot`` (the most frequent; products whose
    sentences name two values equally often are left out)."""
    named = text[text["slot"] == slot].groupby(["cid", "value"]).size().reset_index(name="n")
    out = {}
    for cid, group in named.groupby("cid"):
        top = group[group["n"] == group["n"].max()]
        if len(top) == 1:
            out[cid] = str(top["value"].iloc[0])
    return out


def _fit_correction(log_p: torch.Tensor, z: torch.Tensor, y: torch.Tensor, config: AdaptConfig) -> torch.nn.Linear:
    torch.manual_seed(config.seed)
    correction = torch.nn.Linear(z.shape[1], log_p.shape[1])
    torch.nn.init.zeros_(correction.weight)
    torch.nn.init.zeros_(correction.bias)
    optimizer = torch.optim.AdamW(correction.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    for _ in range(config.steps):
        optimizer.zero_grad()
        F.cross_entropy(log_p + correction(z), y).backward()
        optimizer.step()
    return correction.eval()


@dataclass
class Adapted:
    probabilities: np.ndarray        # (N, V)
    stats: dict


def adapt_slot(probabilities: np.ndarray, embedding: np.ndarray, cids: Sequence[str], values: Sequence[str],
               anchors: Mapping[str, str], config: AdaptConfig, rows: np.ndarray | None = None,
               block: int = 4096) -> Adapted:
    """Out-of-fold adapted (N, V) probabilities of one slot's products. ``probabilities``
    (views, N, V) are the source classifier's (calibrated) and ``embedding`` the features its
    heads read, for each view of the image (plain, mirrored): the correction learns from every
    view of an anchor, and a product's probabilities average its views. ``embedding`` is
    (views, N, D), or with ``rows`` a larger (views, M, D) array (a memory map, say) of which
    product i is row ``rows[i]``: it is read by rows, the anchors of a fold and then the held-out
    products a block at a time, never copied whole."""
    index = {v: i for i, v in enumerate(values)}
    rows = np.arange(len(cids)) if rows is None else np.asarray(rows)
    usable = np.asarray([anchors.get(c) in index for c in cids])
    stats = {"anchors": int(usable.sum()), "folds": config.folds, "adapted": False}
    if config.folds < 2 or usable.sum() < config.min_anchors:
        return Adapted(probabilities.mean(axis=0), stats)
    log_p = torch.from_numpy(np.log(np.clip(probabilities, 1e-6, 1.0))).float()        # (views, N, V)
    y = torch.as_tensor([index.get(anchors.get(c), -1) for c in cids])
    fold = product_folds(cids, config.folds, config.seed)
    out = probabilities.mean(axis=0)
    views = len(log_p)
    for k in range(config.folds):
        train = np.flatnonzero(usable & (fold != k))
        held = np.flatnonzero(fold == k)
        if len(train) < config.min_anchors or not len(held):
            continue
        z = torch.from_numpy(np.asarray(embedding[:, rows[train]], dtype=np.float32))
        correction = _fit_correction(log_p[:, train].flatten(0, 1), z.flatten(0, 1), y[train].repeat(views), config)
        del z
        with torch.no_grad():
            for start in range(0, len(held), block):
                mine = held[start:start + block]
                z = torch.from_numpy(np.asarray(embedding[:, rows[mine]], dtype=np.float32))
                out[mine] = torch.softmax(log_p[:, mine] + correction(z), dim=-1).mean(dim=0).numpy()
    stats["adapted"] = True
    return Adapted(out, stats)
