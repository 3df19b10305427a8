"""Seeded random 8:1:1 splits, over items or over groups of items (no group in two splits)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

SPLITS = ("train", "validation", "test")


def split_811(keys: Sequence[str], seed: int) -> np.ndarray:
    """Random 8:1:1 train / validation / test over ``keys``, seeded and independent of their order."""
    order = np.argsort(np.asarray(keys, dtype=object), kind="stable")
    perm = np.random.default_rng(seed).permutation(len(keys))
    n_train, n_val = int(round(0.8 * len(keys))), int(round(0.1 * len(keys)))
    split = np.empty(len(keys), dtype=object)
    ranked = order[perm]
    split[ranked[:n_train]] = "train"
    split[ranked[n_train:n_train + n_val]] = "validation"
    split[ranked[n_train + n_val:]] = "test"
    return split.astype(str)


def grouped_split(groups: Sequence[str], seed: int) -> np.ndarray:
    """8:1:1 over the distinct groups (products), each item taking its group's split."""
    distinct = sorted(set(groups))
    of_group = dict(zip(distinct, split_811(distinct, seed)))
    return np.asarray([of_group[g] for g in groups])


def leakage(groups: Sequence[str], split: Sequence[str]) -> dict:
    """Groups (cids) found in more than one split, and how many items they hold."""
    frame = pd.DataFrame({"group": list(groups), "split": list(split)})
    spread = frame.groupby("group")["split"].nunique()
    shared = spread[spread > 1].index
    return {"groups_in_several_splits": int(len(shared)), "items_of_those_groups": int(frame["group"].isin(shared).sum()),
            "groups": int(len(spread))}
