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
from typing import Any, Iterable, Iterator

from pipeline.reasons import Reason
from pipeline.records import ReadResult, is_utf8
from pipeline.schema import Schema, default_schema
from pipeline.sources.common import (  # noqa: F401 (BASE_COLUMNS re-exported)
    BASE_COLUMNS, BASE_DTYPES, VISION_STATS, RecordError, SourceRead, count_tasks, map_labels, task_slots,
)

SOURCE = "ifashion"
DEFAULT_LABEL_MAP = Path(__file__).resolve().parents[1] / "config" / "imat_label_map_228.csv"
LABEL_MAP_HEADER = ("labelId", "taskId", "labelName", "taskName")
SPLITS = ("train", "validation")
TEST_FILE = "test.json"
IMAGE_PATTERN = "images/{imageId}.jpg"
# An imageId becomes part of a file name: no separators, no leading dot.
SAFE_ID = re.compile(r"^[^/\\.\s\x00-\x1f][^/\\\s\x00-\x1f]*$")

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
    """A string id from a JSON string or integer (ints counted in stats); None if neither.
    Raises :class:`RecordError` for an id holding a NUL character."""
    if isinstance(value, str) and "\x00" in value:
        raise RecordError(Reason.NUL_BYTE, "the id holds a NUL character")
    if isinstance(value, str) and not is_utf8(value):
        raise RecordError(Reason.INVALID_ENCODING, "the id holds an unpaired surrogate escape (not UTF-8)")
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        stats["int_ids"] += 1
        return str(value)
    return None


def short_json(obj: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return repr(obj)[:500]


def load_json(read: SourceRead, path: Path, need_annotations: bool) -> dict | None:
    """The split file's object, or None (rejected: missing, invalid JSON, wrong structure)."""
    if not path.is_file():
        read.rejects.add(path, "", Reason.FILE_MISSING, f"{path.name} not found")
        return None
    data = read.json(path)
    if data is None:
        return None
    keys = ("images", "annotations") if need_annotations else ("images",)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in keys):
        read.rejects.add(path, short_json(data)[:200], Reason.BAD_STRUCTURE,
                         f"top level must be an object with list(s) {list(keys)}; the whole file is rejected")
        return None
    twice = [k for k in getattr(data, "duplicate_keys", ()) if k in keys]
    if twice:
        read.rejects.add(path, "", Reason.BAD_STRUCTURE,
                         f"key(s) {twice} appear twice at the top level (JSON keeps only the last); "
                         "the whole file is rejected")
        return None
    return data


def _entry_id(entry: Any, stats: dict[str, Any]) -> str | None:
    return parse_id(entry.get("imageId"), stats) if isinstance(entry, dict) else None


def _image_entries(read: SourceRead, path: Path, entries: list) -> Iterator[tuple[str, Any, str | None]]:
    """(location, entry, imageId or None) of each image entry; an id holding NUL is a reject."""
    for i, entry in enumerate(entries):
        where = f"{path}#images[{i}]"
        try:
            yield where, entry, _entry_id(entry, read.stats)
        except RecordError as exc:
            read.rejects.add(where, short_json(entry), exc.reason, exc.detail)


@dataclass
class _Split:
    """What one labelled split file holds, as the reader walks it."""

    name: str
    path: Path
    images: dict[str, tuple[str, str, dict]]       # imageId -> (url, location, entry)
    rejected_ids: set[str]
    data: dict


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
    follow_links_outside: bool = False,
) -> ReadResult:
    """Read iMaterialist-2018 labels into one row per (image, label group), with rejects.

    ``label_map``: the 228-label CSV (default: the packaged copy). ``groups``: label groups
    to emit (default: all groups of the map; an unknown group name raises ValueError).
    ``splits``: labelled split files ``<split>.json`` to read. ``image_pattern``: local image
    path relative to ``root``, with ``{imageId}`` and optionally ``{split}``. With
    ``check_images=False`` images are only tested for existence and ``image_mode`` is None.
    """
    schema = schema or default_schema()
    map_path = Path(label_map) if label_map is not None else DEFAULT_LABEL_MAP
    read = SourceRead(SOURCE, root, follow_links_outside,
                      (*VISION_STATS, "annotations", "test_images", "int_ids", "repeated_label_ids",
                       "annotations_of_rejected_images", "images_without_selected_groups"))
    read.stats["images_per_split"] = {}
    try:
        labels_by_id = load_label_map(map_path)
    except LabelMapError as exc:
        read.rejects.add(map_path, "", Reason.BAD_LABEL_MAP, str(exc))
        return read.result([], DTYPES)
    all_groups = sorted({lab.group for lab in labels_by_id.values()})
    wanted = set(all_groups if groups is None else groups)
    unknown = sorted(wanted - set(all_groups))
    if unknown:
        raise ValueError(f"unknown label groups {unknown}; the label map has {all_groups}")
    read.stats["groups"] = sorted(wanted)
    if read.root_missing("iFashion"):
        return read.result([], DTYPES)

    owner: dict[str, str] = {}  # imageId -> split that holds it (patterns without {split})
    pending: list[dict] = []
    for name in splits:
        split = _read_images(read, name, owner, image_pattern)
        if split is not None:
            pending += _read_annotations(read, split, labels_by_id, wanted, map_path.name, image_pattern)
    if test_file and (read.root.path / test_file).is_file():
        _count_test_images(read, read.root.path / test_file)

    checks = read.check_images([p["path"] for p in pending], check_images)
    vmap = schema.value_map(SOURCE)
    slot_of_task = task_slots(schema, SOURCE)
    unmapped: Counter = Counter()
    rows: list[dict] = []
    for p, check in read.usable(pending, checks):
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
    count_tasks(rows, unmapped, read.stats)
    return read.result(rows, DTYPES)


def _read_images(read: SourceRead, name: str, owner: dict[str, str], image_pattern: str) -> _Split | None:
    """The usable image entries of ``<name>.json`` (None when the file is unusable)."""
    path = read.root.path / f"{name}.json"
    data = load_json(read, path, need_annotations=True)
    if data is None:
        return None
    split = _Split(name, path, {}, set(), data)
    shared_files = "{split}" not in image_pattern
    for where, entry, image_id in _image_entries(read, path, data["images"]):
        url = entry.get("url") if isinstance(entry, dict) else None
        if (image_id is None or not SAFE_ID.match(image_id) or not isinstance(url, str) or not url.strip()
                or not is_utf8(url)):
            missing = "imageId" if image_id is None or not SAFE_ID.match(image_id) else "url"
            read.rejects.add(where, short_json(entry), Reason.BAD_IMAGE_ENTRY, f"no usable {missing}")
            if image_id is not None:
                split.rejected_ids.add(image_id)
        elif image_id in split.images:
            read.rejects.add(where, short_json(entry), Reason.DUPLICATE_IMAGE_ID,
                             f"imageId {image_id} listed twice in {path.name}")
        elif shared_files and image_id in owner:
            read.rejects.add(where, short_json(entry), Reason.DUPLICATE_IMAGE_ID,
                             f"imageId {image_id} is also in {owner[image_id]}.json and "
                             f"{image_pattern!r} maps both to one file (add {{split}})")
            split.rejected_ids.add(image_id)
        else:
            split.images[image_id] = (url.strip(), where, entry)
    for image_id in split.images:
        owner.setdefault(image_id, name)
    read.stats["images_per_split"][name] = len(split.images)
    return split


def _read_annotations(read: SourceRead, split: _Split, labels_by_id: dict[str, Label], wanted: set[str],
                      map_name: str, image_pattern: str) -> list[dict]:
    """One pending record per annotated image with labels in the wanted groups; every image
    entry with no annotation is a reject (``no_labels``)."""
    annotated: dict[str, int] = {}
    pending = []
    for i, entry in enumerate(split.data["annotations"]):
        where = f"{split.path}#annotations[{i}]"
        try:
            image_id, by_group = _annotation(read, split, entry, i, annotated, labels_by_id, wanted, map_name)
        except RecordError as exc:
            read.rejects.add(where, short_json(entry), exc.reason, exc.detail)
            continue
        if image_id is None:
            continue
        rel = image_pattern.format(imageId=image_id, split=split.name)
        pending.append({"where": where, "record": short_json(entry), "split": split.name,
                        "image_id": f"{split.name}/{image_id}" if "{split}" in image_pattern else image_id,
                        "path": os.path.join(str(read.root.path), rel), "rel": rel, "url": split.images[image_id][0],
                        "by_group": by_group,
                        "missing_detail": f"listed in {split.path.name} but not fetched to {rel}"})
    for image_id, (_url, image_where, entry) in split.images.items():
        if image_id not in annotated:
            read.rejects.add(image_where, short_json(entry), Reason.NO_LABELS,
                             f"imageId {image_id} has no annotation in {split.path.name}")
    return pending


def _annotation(read: SourceRead, split: _Split, entry: Any, i: int, annotated: dict[str, int],
                labels_by_id: dict[str, Label], wanted: set[str], map_name: str
                ) -> tuple[str | None, dict[str, list[str]]]:
    """(imageId, label ids by wanted group) of one annotation; (None, {}) when it is counted
    but yields no row. Raises :class:`RecordError`."""
    image_id = _entry_id(entry, read.stats)
    raw_ids = entry.get("labelId") if isinstance(entry, dict) else None
    if image_id is None or not isinstance(raw_ids, list):
        if image_id is not None:
            annotated.setdefault(image_id, i)  # its image is accounted for by this reject
        raise RecordError(Reason.BAD_ANNOTATION, "needs an imageId and a labelId list")
    read.stats["annotations"] += 1
    if image_id in split.rejected_ids:
        read.stats["annotations_of_rejected_images"] += 1
        return None, {}
    if image_id not in split.images:
        raise RecordError(Reason.ANNOTATION_UNKNOWN_IMAGE, f"imageId {image_id} is not in the images of {split.path.name}")
    if image_id in annotated:
        raise RecordError(Reason.DUPLICATE_ANNOTATION,
                          f"imageId {image_id} already annotated at annotations[{annotated[image_id]}]")
    annotated[image_id] = i
    label_ids: list[str] = []
    bad_ids: list[str] = []
    for raw in raw_ids:
        label_id = parse_id(raw, read.stats)
        if label_id is None or label_id not in labels_by_id:
            bad_ids.append(repr(raw))
        elif label_id in label_ids:
            read.stats["repeated_label_ids"] += 1
        else:
            label_ids.append(label_id)
    if bad_ids:
        raise RecordError(Reason.UNKNOWN_LABEL_ID, f"labelId(s) {', '.join(bad_ids)} not in {map_name}")
    if not label_ids:
        raise RecordError(Reason.NO_LABELS, "empty labelId list")
    by_group: dict[str, list[str]] = {}
    for label_id in label_ids:
        if labels_by_id[label_id].group in wanted:
            by_group.setdefault(labels_by_id[label_id].group, []).append(label_id)
    if not by_group:
        read.stats["images_without_selected_groups"] += 1
        return None, {}
    return image_id, by_group


def _count_test_images(read: SourceRead, path: Path) -> None:
    """``stats["test_images"]``: the unlabelled test split's distinct ids (bad entries rejected)."""
    data = load_json(read, path, need_annotations=False)
    if data is None:
        return
    seen: set[str] = set()
    for where, entry, image_id in _image_entries(read, path, data["images"]):
        if image_id is None:
            read.rejects.add(where, short_json(entry), Reason.BAD_IMAGE_ENTRY, "no usable imageId")
        elif image_id in seen:
            read.rejects.add(where, short_json(entry), Reason.DUPLICATE_IMAGE_ID,
                             f"imageId {image_id} listed twice in {path.name}")
        else:
            seen.add(image_id)
    read.stats["test_images"] = len(seen)
