"""Helpers shared by the vision source readers (fashionai, utzap50k, ifashion, crawl)."""

from __future__ import annotations

import os
import posixpath
from collections import Counter
from typing import Any

import pandas as pd

from pipeline.images import MISSING, ImageCheck, check_images as _check_images
from pipeline.records import ReadResult, RejectCollector
from pipeline.schema import Schema, ValueMapEntry

# Column -> dtype of the valid table; text columns are pandas "string" (missing = pd.NA).
BASE_DTYPES = {
    "source": "string", "image_id": "string", "image_path": "string", "task": "string",
    "labels": object, "slot": "string", "values": object, "multi_label": bool,
    "image_mode": "string",
}
BASE_COLUMNS = list(BASE_DTYPES)


def task_slots(schema: Schema, source: str) -> dict[str, str | None]:
    """Task -> the slot its value-map entries point to (None if none or ambiguous)."""
    slots: dict[str, set[str]] = {}
    for (task, _label), entry in schema.value_map(source).items():
        slots.setdefault(task, set()).add(entry.slot)
    return {t: (next(iter(s)) if len(s) == 1 else None) for t, s in slots.items()}


def map_labels(vmap: dict[tuple[str, str], ValueMapEntry], task: str, labels: list[str],
               unmapped: Counter) -> tuple[str | None, list[str]]:
    """Slot and deduplicated MAVP values (label order) of one row; count unmapped labels.

    ``vmap`` is ``schema.value_map(source)``, built once per read.
    """
    slot: str | None = None
    values: list[str] = []
    for label in labels:
        entry = vmap.get((task, label))
        if entry is None:
            unmapped[f"{task}/{label}"] += 1
            continue
        slot = slot or entry.slot
        if entry.slot == slot and entry.value not in values:
            values.append(entry.value)
    return slot, values


def relative_path(raw: str) -> str | None:
    """Normalised root-relative POSIX path, or None if empty, absolute or escaping root."""
    raw = raw.strip().replace("\\", "/")
    if not raw or raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        return None
    norm = posixpath.normpath(raw)
    if norm == "." or norm == ".." or norm.startswith("../"):
        return None
    return norm


def image_checks(paths: list[str], check_images: bool) -> dict[str, ImageCheck]:
    """One ImageCheck per unique path (a cheap existence test when decoding is off)."""
    unique = list(dict.fromkeys(paths))
    if check_images:
        return dict(zip(unique, _check_images(unique)))
    return {p: (ImageCheck(p, True) if os.path.isfile(p) else ImageCheck(p, False, MISSING, "no such file"))
            for p in unique}


def run_image_checks(paths: list[str], check_images: bool,
                     stats: dict[str, Any]) -> dict[str, ImageCheck]:
    """:func:`image_checks`, recording images_checked / image_modes /
    images_needing_conversion in ``stats`` when images are decoded."""
    checks = image_checks(paths, check_images)
    if check_images:
        stats["images_checked"] = len(checks)
        stats["image_modes"] = dict(sorted(Counter(c.mode for c in checks.values() if c.ok).items()))
        stats["images_needing_conversion"] = sum(c.needs_conversion for c in checks.values())
    return checks


def read_result(source: str, rows: list[dict], columns: list[str], dtypes: dict, rejects: RejectCollector,
                stats: dict[str, Any]) -> ReadResult:
    """The reader's result: the valid table in its dtypes, its rejects, and ``valid_rows``."""
    valid = pd.DataFrame(rows, columns=columns).astype(dtypes)
    stats["valid_rows"] = len(valid)
    return ReadResult(source, valid, rejects.frame(), stats)
