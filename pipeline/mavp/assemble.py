"""MAVP rows per the output contract (DESIGN.md section 6): one row per instance (cid + sid).

Text-dependent slots take the sentence's annotated value, image-dependent slots the product
image's distant label (the same for every sentence of a product); a slot that does not apply
to the product's category, or that nobody filled, is ``none`` with source ``none``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.mavp.labeling import NONE
from pipeline.schema import Schema
from pipeline.splits import grouped_split, split_811

SPLIT_MODES = ("grouped", "random")


def contract_columns(schema: Schema, image_slots: Sequence[str]) -> list[str]:
    columns = ["sid", "cid", "category", "text", "image"]
    for slot in schema.slot_keys:
        columns += [slot, f"{slot}_source"] + ([f"{slot}_confidence", f"{slot}_reliability"] if slot in image_slots else [])
    return columns


def apply_min_reliability(labels: pd.DataFrame, min_reliability: float) -> tuple[pd.DataFrame, dict[str, int]]:
    """Image labels below ``min_reliability`` become ``none`` with source ``none`` (reason
    ``below_min_reliability``); returns the labels and how many were removed per slot."""
    low = (labels["source"] == "image") & (labels["reliability"].astype(float) < min_reliability)
    removed = labels[low].groupby("slot").size().to_dict()
    out = labels.copy()
    out.loc[low, ["value", "source", "reason"]] = [NONE, NONE, "below_min_reliability"]
    return out, {str(k): int(v) for k, v in removed.items()}


def assemble_rows(records: pd.DataFrame, text: pd.DataFrame, labels: pd.DataFrame, images: Mapping[str, str],
                  partition: Mapping[str, Sequence[str]], schema: Schema) -> pd.DataFrame:
    """``records``: MEPAVE sentences (cid, sid, category, text); ``text``: (cid, sid, slot, value);
    ``labels``: (cid, slot, value, confidence, reliability, source); ``images``: cid -> image path
    in the dataset."""
    image_slots, text_slots = set(partition["image"]), set(partition["text"])
    rows = records[["sid", "cid", "category", "text"]].astype(str).reset_index(drop=True)
    rows["image"] = rows["cid"].map(images).astype("string")
    text_value = {(c, s, slot): v for c, s, slot, v in text[["cid", "sid", "slot", "value"]].itertuples(index=False)}
    if "reliability" not in labels:
        labels = labels.assign(reliability=np.nan)
    image_label = {(c, slot): (v, conf, rel, src) for c, slot, v, conf, rel, src
                   in labels[["cid", "slot", "value", "confidence", "reliability", "source"]].itertuples(index=False)}
    applies = {c.name: set(c.slots) for c in schema.categories}
    columns: dict[str, list] = {}
    for slot in schema.slot_keys:
        values, sources, confidence, reliability = [], [], [], []
        for cid, sid, category in zip(rows["cid"], rows["sid"], rows["category"]):
            value, source, conf, rel = NONE, NONE, np.nan, np.nan
            if slot in applies[category]:
                if slot in text_slots and (cid, sid, slot) in text_value:
                    value, source = text_value[(cid, sid, slot)], "text"
                elif slot in image_slots and (cid, slot) in image_label:
                    label, score, trust, origin = image_label[(cid, slot)]
                    if origin == "image":
                        value, source, conf, rel = label, "image", score, trust
            values.append(value)
            sources.append(source)
            confidence.append(conf)
            reliability.append(rel)
        columns[slot], columns[f"{slot}_source"] = values, sources
        if slot in image_slots:
            columns[f"{slot}_confidence"] = np.asarray(confidence, dtype=np.float32)
            columns[f"{slot}_reliability"] = np.asarray(reliability, dtype=np.float32)
    out = pd.concat([rows, pd.DataFrame(columns)], axis=1)
    return out[contract_columns(schema, sorted(image_slots))]


def assign_splits(rows: pd.DataFrame, mode: str = "grouped", seed: int = 0) -> np.ndarray:
    """``grouped`` (default): 8:1:1 over products, no cid in two splits; ``random``: the paper's
    8:1:1 over instances."""
    if mode == "grouped":
        return grouped_split(rows["cid"].tolist(), seed)
    if mode == "random":
        return split_811((rows["cid"] + "/" + rows["sid"]).tolist(), seed)
    raise ValueError(f"split mode {mode!r}: expected one of {SPLIT_MODES}")
