"""Reader for iFashion / iMaterialist-2018 (Fashion) attribute labels.

Layout under ``root``::

    train.json, validation.json   {"images": [{"imageId": "1", "url": "..."}],
                                   "annotations": [{"imageId": "1", "labelId": ["62", "17"]}]}
    test.json                     images only (counted in stats, no rows)
    images/{imageId}.jpg          fetched images (pattern configurable; may use {split})

Label names and groups come from the 228-label map (``labelId,taskId,labelName,taskName``).
The row's ``task`` is the label group (category, color, gender, material, neckline, pattern,
sleeve, style): one valid row per (image, group) holding that group's labels.

Note: the release numbers images from 1 in every split, so a pattern without ``{split}`` can
hold one split only; an id seen in an earlier split is rejected as ``duplicate_image_id``.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from pipeline.images import MISSING
from pipeline.records import ReadResult, RejectCollector
from pipeline.schema import Schema, default_schema
from pipeline.sources.common import (  # noqa: F401 (BASE_COLUMNS re-exported)
    BASE_COLUMNS, BASE_DTYPES, map_labels, read_result, run_image_checks, task_slots,
)

SOURCE = "ifashion"
DEFAULT_LABEL_MAP = Path(__file__).resolve().parents[1] / "config" / "imat_label_map_228.csv"
LABEL_MAP_HEADER = ("labelId", "taskId", "labelName", "taskName")
SPLITS = ("train", "validation")
TEST_FILE = "test.json"
IMAGE_PATTERN = "images/{imageId}.jpg"
# An imageId becomes part of a file name: no separators, no leading dot.
SAFE_ID = re.compile(r"^[^/\\.\s][^/\\\s]*$")

# Reason codes of this reader (besides the image codes of pipeline.images).
ROOT_MISSING = "root_missing"
FILE_MISSING = "file_missing"
BAD_LABEL_MAP = "bad_label_map"
INVALID_JSON = "invalid_json"
BAD_STRUCTURE = "bad_structure"
BAD_IMAGE_ENTRY = "bad_image_entry"
DUPLICATE_IMAGE_ID = "duplicate_image_id"
BAD_ANNOTATION = "bad_annotation"
DUPLICATE_ANNOTATION = "duplicate_annotation"
ANNOTATION_UNKNOWN_IMAGE = "annotation_unknown_image"
UNKNOWN_LABEL_ID = "unknown_label_id"
NO_LABELS = "no_labels"

# Column -> dtype of the valid table; text columns are pandas "string" (missing = pd.NA).
DTYPES = {**BASE_DTYPES, "split": "string", "label_ids": object, "url": "string"}
COLUMNS = list(DTYPES)


@dataclass(frozen=True)
class Label:
    label_id: str
    task_id: str
    name: str
    group: str


class LabelMapError(ValueError):
    """The label map file is missing or malformed."""


def load_label_map(path: str | os.PathLike | None = None) -> dict[str, Label]:
    """labelId -> :class:`Label`, parsed exactly (csv module: CRLF, quoted names with commas).

    Raises :class:`LabelMapError` naming the line on any problem.
    """
    path = Path(path) if path is not None else DEFAULT_LABEL_MAP
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelMapError(f"{path}: cannot read: {exc}") from exc
    if not rows or tuple(h.strip() for h in rows[0]) != LABEL_MAP_HEADER:
        raise LabelMapError(f"{path}: header must be {','.join(LABEL_MAP_HEADER)}")
    labels: dict[str, Label] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not f.strip() for f in row):
            continue
        if len(row) != 4 or not all(f.strip() for f in row):
            raise LabelMapError(f"{path}:{line_no}: needs 4 non-empty columns, got {row!r}")
        label_id, task_id, name, group = (f.strip() for f in row)
        if label_id in labels:
            raise LabelMapError(f"{path}:{line_no}: labelId {label_id} listed twice")
        labels[label_id] = Label(label_id, task_id, name, group)
    if not labels:
        raise LabelMapError(f"{path}: no labels")
    return labels


def parse_id(value: Any, stats: dict[str, Any]) -> str | None:
    """A string id from a JSON string or integer (ints counted in stats); None if neither."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        stats["int_ids"] += 1
        return str(value)
    return None


def short_json(obj: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(obj)


def load_json(path: Path, rejects: RejectCollector, need_annotations: bool) -> dict | None:
    if not path.is_file():
        rejects.add(path, "", FILE_MISSING, f"{path.name} not found")
        return None
    try:
        with path.open(encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        rejects.add(path, "", INVALID_JSON, f"{exc}; the whole file is rejected")
        return None
    keys = ("images", "annotations") if need_annotations else ("images",)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in keys):
        rejects.add(path, short_json(data)[:200], BAD_STRUCTURE,
                    f"top level must be an object with list(s) {list(keys)}; "
                    "the whole file is rejected")
        return None
    return data


def read_ifashion(
    root: str | os.PathLike,
    *,
    label_map: str | os.PathLike | None = None,
    groups: Iterable[str] | None = None,
    splits: Iterable[str] = SPLITS,
    test_file: str | None = TEST_FILE,
    image_pattern: str = IMAGE_PATTERN,
    schema: Schema | None = None,
    check_images: bool = True,
) -> ReadResult:
    """Read iMaterialist-2018 labels into one row per (image, label group), with rejects.

    ``label_map``: the 228-label CSV (default: the packaged copy). ``groups``: label groups
    to emit (default: all groups of the map; an unknown group name raises ValueError).
    ``splits``: labelled split files ``<split>.json`` to read. ``image_pattern``: local image
    path relative to ``root``, with ``{imageId}`` and optionally ``{split}``. With
    ``check_images=False`` images are only tested for existence and ``image_mode`` is None.
    """
    schema = schema or default_schema()
    root = Path(os.path.abspath(root))
    map_path = Path(label_map) if label_map is not None else DEFAULT_LABEL_MAP
    rejects = RejectCollector(SOURCE, root)
    stats: dict[str, Any] = {
        "images_per_split": {}, "annotations": 0, "test_images": 0, "int_ids": 0,
        "repeated_label_ids": 0, "annotations_of_rejected_images": 0,
        "images_without_selected_groups": 0, "images_checked": 0, "image_modes": {},
        "images_needing_conversion": 0, "rows_per_task": {}, "unmapped_labels": {},
    }

    def done(rows: list[dict]) -> ReadResult:
        return read_result(SOURCE, rows, COLUMNS, DTYPES, rejects, stats)

    try:
        labels_by_id = load_label_map(map_path)
    except LabelMapError as exc:
        rejects.add(map_path, "", BAD_LABEL_MAP, str(exc))
        return done([])
    all_groups = sorted({lab.group for lab in labels_by_id.values()})
    if groups is None:
        wanted = set(all_groups)
    else:
        wanted = set(groups)
        unknown = sorted(wanted - set(all_groups))
        if unknown:
            raise ValueError(f"unknown label groups {unknown}; the label map has {all_groups}")
    stats["groups"] = sorted(wanted)

    if not root.is_dir():
        rejects.add(root, "", ROOT_MISSING, "iFashion root folder does not exist")
        return done([])

    split_of_pattern = "{split}" in image_pattern
    root_str = str(root)
    owner: dict[str, str] = {}  # imageId -> split that holds it (patterns without {split})
    pending: list[dict] = []
    for split in splits:
        path = root / f"{split}.json"
        data = load_json(path, rejects, need_annotations=True)
        if data is None:
            continue
        images: dict[str, tuple[str, str, dict]] = {}  # id -> (url, location, entry)
        rejected_ids: set[str] = set()
        for i, entry in enumerate(data["images"]):
            where = f"{path}#images[{i}]"
            image_id = parse_id(entry.get("imageId"), stats) if isinstance(entry, dict) else None
            url = entry.get("url") if isinstance(entry, dict) else None
            if (image_id is None or not SAFE_ID.match(image_id)
                    or not isinstance(url, str) or not url.strip()):
                missing = "imageId" if image_id is None or not SAFE_ID.match(image_id) else "url"
                rejects.add(where, short_json(entry), BAD_IMAGE_ENTRY, f"no usable {missing}")
                if image_id is not None:
                    rejected_ids.add(image_id)
                continue
            if image_id in images:
                rejects.add(where, short_json(entry), DUPLICATE_IMAGE_ID,
                            f"imageId {image_id} listed twice in {path.name}")
                continue
            if not split_of_pattern and image_id in owner:
                rejects.add(where, short_json(entry), DUPLICATE_IMAGE_ID,
                            f"imageId {image_id} is also in {owner[image_id]}.json and "
                            f"{image_pattern!r} maps both to one file (add {{split}})")
                rejected_ids.add(image_id)
                continue
            images[image_id] = (url.strip(), where, entry)
        for image_id in images:
            owner.setdefault(image_id, split)
        stats["images_per_split"][split] = len(images)

        annotated: dict[str, int] = {}
        for i, entry in enumerate(data["annotations"]):
            where = f"{path}#annotations[{i}]"
            image_id = parse_id(entry.get("imageId"), stats) if isinstance(entry, dict) else None
            raw_ids = entry.get("labelId") if isinstance(entry, dict) else None
            if image_id is None or not isinstance(raw_ids, list):
                rejects.add(where, short_json(entry), BAD_ANNOTATION,
                            "needs an imageId and a labelId list")
                if image_id is not None:
                    annotated.setdefault(image_id, i)  # its image is accounted for here
                continue
            stats["annotations"] += 1
            if image_id in rejected_ids:
                stats["annotations_of_rejected_images"] += 1
                continue
            if image_id not in images:
                rejects.add(where, short_json(entry), ANNOTATION_UNKNOWN_IMAGE,
                            f"imageId {image_id} is not in the images of {path.name}")
                continue
            if image_id in annotated:
                rejects.add(where, short_json(entry), DUPLICATE_ANNOTATION,
                            f"imageId {image_id} already annotated at "
                            f"annotations[{annotated[image_id]}]")
                continue
            annotated[image_id] = i
            label_ids: list[str] = []
            bad_ids: list[str] = []
            for raw in raw_ids:
                label_id = parse_id(raw, stats)
                if label_id is None or label_id not in labels_by_id:
                    bad_ids.append(repr(raw))
                elif label_id in label_ids:
                    stats["repeated_label_ids"] += 1
                else:
                    label_ids.append(label_id)
            if bad_ids:
                rejects.add(where, short_json(entry), UNKNOWN_LABEL_ID,
                            f"labelId(s) {', '.join(bad_ids)} not in {map_path.name}")
                continue
            if not label_ids:
                rejects.add(where, short_json(entry), NO_LABELS, "empty labelId list")
                continue
            by_group: dict[str, list[str]] = {}
            for label_id in label_ids:
                group = labels_by_id[label_id].group
                if group in wanted:
                    by_group.setdefault(group, []).append(label_id)
            if not by_group:
                stats["images_without_selected_groups"] += 1
                continue
            url = images[image_id][0]
            rel = image_pattern.format(imageId=image_id, split=split)
            pending.append({"where": where, "entry": entry, "split": split,
                            "image_id": f"{split}/{image_id}" if split_of_pattern else image_id,
                            "path": os.path.join(root_str, rel), "rel": rel, "url": url,
                            "by_group": by_group, "file": path.name})
        for image_id, (_url, image_where, entry) in images.items():
            if image_id not in annotated:
                rejects.add(image_where, short_json(entry), NO_LABELS,
                            f"imageId {image_id} has no annotation in {path.name}")

    if test_file:
        test_path = root / test_file
        if test_path.is_file():
            data = load_json(test_path, rejects, need_annotations=False)
            if data is not None:
                seen: set[str] = set()
                for i, entry in enumerate(data["images"]):
                    image_id = parse_id(entry.get("imageId"), stats) if isinstance(entry, dict) else None
                    if image_id is None or image_id in seen:
                        reason = BAD_IMAGE_ENTRY if image_id is None else DUPLICATE_IMAGE_ID
                        rejects.add(f"{test_path}#images[{i}]", short_json(entry), reason,
                                    "no usable imageId" if image_id is None
                                    else f"imageId {image_id} listed twice in {test_file}")
                        continue
                    seen.add(image_id)
                stats["test_images"] = len(seen)

    checks = run_image_checks([p["path"] for p in pending], check_images, stats)

    vmap = schema.value_map(SOURCE)
    slot_of_task = task_slots(schema, SOURCE)
    unmapped: Counter = Counter()
    per_task: Counter = Counter()
    rows: list[dict] = []
    for p in pending:
        check = checks[p["path"]]
        if not check.ok:
            detail = check.detail
            if check.reason == MISSING:
                detail = f"listed in {p['file']} but not fetched to {p['rel']} ({check.detail})"
            rejects.add(p["where"], short_json(p["entry"]), check.reason, detail)
            continue
        for group, label_ids in p["by_group"].items():
            names = [labels_by_id[i].name for i in label_ids]
            slot, values = map_labels(vmap, group, names, unmapped)
            rows.append({
                "source": SOURCE, "image_id": p["image_id"], "image_path": p["path"],
                "task": group, "labels": names, "slot": slot or slot_of_task.get(group),
                "values": values, "multi_label": len(names) > 1,
                "image_mode": check.mode or None, "split": p["split"],
                "label_ids": label_ids, "url": p["url"],
            })
            per_task[group] += 1
    stats["rows_per_task"] = dict(sorted(per_task.items()))
    stats["unmapped_labels"] = dict(sorted(unmapped.items()))
    return done(rows)
