"""How far to trust each image label: a reliability in [0, 1], and how well it ranks labels.

Three pieces of evidence, averaged as PV2TEA averages its neighbourhood reliabilities (eq. 15):

* the classifier's calibrated probability of the label (temperature scaling on the source
  validation split, then the text-anchored adaptation);
* PV2TEA's visual-neighbour agreement (S3, eq. 12): the share of the product's K nearest
  neighbours in the classifier's embedding space (cosine, the slot's products; beyond
  ``MAX_REFERENCE`` products, among that many of them, so the cost stays linear) that carry
  the same label;
* where a sentence of the product names the slot's value: 1 if the label agrees, else 0.

AUROC and the accuracy of the most reliable labels measure the score where a truth exists.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch


#: Neighbours are looked for among at most this many products of the slot (evenly spaced over
#: them, in cid order), so that the cost grows with N, not N^2; every product up to that many.
MAX_REFERENCE = 4096


def nearest_neighbours(embedding: np.ndarray, k: int = 10, chunk: int = 1024, overwrite: bool = False,
                       max_reference: int = MAX_REFERENCE) -> np.ndarray:
    """(N, k) indices of each row's ``k`` nearest other rows by cosine similarity, among the
    reference rows (all rows when there are at most ``max_reference``). ``overwrite``:
    normalise ``embedding`` in place rather than in a copy (at scale it is GBs)."""
    n = len(embedding)
    z = torch.from_numpy(np.array(embedding, dtype=np.float32, copy=not overwrite))
    z.div_(z.norm(dim=1, keepdim=True).clamp_min(1e-12))           # torch.nn.functional.normalize, in place
    reference = np.arange(n) if n <= max_reference else np.unique(np.linspace(0, n - 1, max_reference).round()).astype(int)
    candidates = z if n <= max_reference else z[torch.from_numpy(reference)]
    slot_of = np.full(n, -1)
    slot_of[reference] = np.arange(len(reference))
    k = max(0, min(k, len(reference) - 1))
    out = np.zeros((n, k), np.int64)
    for start in range(0, n, chunk):
        sim = z[start:start + chunk] @ candidates.T
        rows = np.arange(start, min(n, start + chunk))
        own = slot_of[rows]
        sim[torch.from_numpy(np.flatnonzero(own >= 0)), torch.from_numpy(own[own >= 0])] = -np.inf   # not its own
        out[start:start + len(rows)] = reference[sim.topk(k, dim=1).indices.numpy()]
    return out


def neighbour_agreement(embedding: np.ndarray, labels: np.ndarray, k: int = 10, overwrite: bool = False) -> np.ndarray:
    """Per row: the share of its ``k`` nearest other rows (cosine) whose label equals its own."""
    labels = np.asarray(labels)
    if len(labels) < 2:
        return np.ones(len(labels), np.float32)
    nearest = nearest_neighbours(embedding, k, overwrite=overwrite)
    return (labels[nearest] == labels[:, None]).mean(axis=1).astype(np.float32)


def combine(probability: np.ndarray, neighbours: np.ndarray, text_agrees: np.ndarray) -> np.ndarray:
    """Mean of the available evidence; ``text_agrees`` is 1, 0 or NaN (no sentence names a value)."""
    parts = np.stack([probability, neighbours, text_agrees]).astype(np.float64)
    return np.nanmean(parts, axis=0).astype(np.float32)


def auroc(scores: np.ndarray, correct: np.ndarray) -> float | None:
    """Area under the ROC curve of ``scores`` telling correct rows from wrong ones (ties count
    half: the Mann-Whitney statistic); None when either class is empty."""
    scores, correct = np.asarray(scores, dtype=float), np.asarray(correct, dtype=bool)
    n_pos, n_neg = int(correct.sum()), int((~correct).sum())
    if not n_pos or not n_neg:
        return None
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return round(float((ranks[correct].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)), 4)


def accuracy_at_coverage(scores: np.ndarray, correct: np.ndarray, coverage: float) -> float | None:
    """Accuracy of the most reliable ``coverage`` share of the rows (ties broken by order)."""
    n = int(round(len(scores) * coverage))
    if n == 0:
        return None
    keep = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:n]
    return round(float(np.asarray(correct)[keep].mean()), 4)


def risk_coverage(scores: np.ndarray, correct: np.ndarray, points: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, risk) from the most reliable label down: risk is the error rate of the kept labels."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    wrong = 1.0 - np.asarray(correct, dtype=float)[order]
    kept = np.arange(1, len(order) + 1)
    risk = np.cumsum(wrong) / kept
    at = np.unique(np.linspace(1, len(order), min(points, len(order))).round().astype(int)) - 1
    return kept[at] / len(order), risk[at]


COVERAGES: Sequence[float] = (0.5, 0.8, 1.0)
