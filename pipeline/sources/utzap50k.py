"""Reader for UT-ZAP50K (UT Zappos50K) shoes.

Layout under ``root``::

    ut-zap50k-data/meta-data.csv                           header CID,Category,SubCategory,
                                                           HeelHeight,Insole,Closure,Gender,
                                                           Material,ToeStyle
    ut-zap50k-images/<Category>/<SubCategory>/<Brand>/<a>.<b>.jpg     CID is "a-b"

Multi-valued fields are joined with ``;``. Tasks: HeelHeight (single label, fixed value list)
and Closure, Gender, Material, ToeStyle (multi-label). An empty field means the task is absent
for that CID (not a reject). One valid row per (CID, task present).

The image tree is indexed once (``os.walk``), by file name, so the folder names need not
match the metadata exactly.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from pipeline.images import MISSING
from pipeline.reasons import Reason
from pipeline.records import ReadResult
from pipeline.schema import Schema, default_schema
from pipeline.sources.common import (  # noqa: F401 (BASE_COLUMNS re-exported)
    BASE_COLUMNS, BASE_DTYPES, VISION_STATS, RecordError, SourceRead, count_tasks, map_labels, task_slots,
)

SOURCE = "utzap50k"
META_FILE = "ut-zap50k-data/meta-data.csv"
IMAGES_DIR = "ut-zap50k-images"
HEADER = ("CID", "Category", "SubCategory", "HeelHeight", "Insole", "Closure", "Gender",
          "Material", "ToeStyle")
# Task -> multi-label?
TASKS: dict[str, bool] = {
    "HeelHeight": False, "Closure": True, "Gender": True, "Material": True, "ToeStyle": True,
}
HEEL_HEIGHTS = ("Flat", "Under 1in", "1in - 1 3/4in", "2in - 2 3/4in", "3in - 3 3/4in",
                "4in - 4 3/4in", "5in & over")
CID_PATTERN = re.compile(r"^([0-9A-Za-z]+)-([0-9A-Za-z]+)$")
IMAGE_EXTENSIONS = (".jpg", ".jpeg")

# Column -> dtype of the valid table; text columns are pandas "string" (missing = pd.NA).
DTYPES = {**BASE_DTYPES, "cid": "string", "category": "string", "subcategory": "string",
          "brand": "string"}
COLUMNS = list(DTYPES)


def _index_images(read: SourceRead, images_root: Path) -> dict[str, list[Path]]:
    """Lower-cased file name -> paths of every JPEG under ``images_root``; others are counted."""
    index: dict[str, list[Path]] = {}
    for rel, path in read.files(images_root).items():
        if path.name.lower().endswith(IMAGE_EXTENSIONS):
            index.setdefault(path.name.lower(), []).append(path)
        else:
            read.stats["other_files"] += 1
    return index


def _pick_image(candidates: list[Path], images_root: Path, category: str,
                subcategory: str) -> Path | None:
    """The one candidate, or the single one under <Category>/<SubCategory>/ when several."""
    if len(candidates) == 1:
        return candidates[0]
    matching = [c for c in candidates
                if c.relative_to(images_root).parts[:2] == (category, subcategory)]
    return matching[0] if len(matching) == 1 else None


def _split_labels(field: str) -> tuple[list[str], int]:
    """Labels of a ';'-joined field in order, without blanks or repeats; count of repeats."""
    labels: list[str] = []
    repeats = 0
    for part in field.split(";"):
        part = part.strip()
        if not part:
            continue
        if part in labels:
            repeats += 1
        else:
            labels.append(part)
    return labels, repeats


def read_utzap50k(
    root: str | os.PathLike,
    *,
    meta_file: str = META_FILE,
    images_dir: str = IMAGES_DIR,
    schema: Schema | None = None,
    check_images: bool = True,
    follow_links_outside: bool = False,
) -> ReadResult:
    """Read UT-ZAP50K into one row per (CID, task present), with rejects.

    ``meta_file`` and ``images_dir`` are relative to ``root``. With ``check_images=False``
    images are only tested for existence and ``image_mode`` is None. A CID none of whose five
    task fields holds a label is a reject (``no_labels``).
    """
    schema = schema or default_schema()
    read = SourceRead(SOURCE, root, follow_links_outside,
                      (*VISION_STATS, "cids", "repeated_labels", "image_files", "other_files",
                       "images_without_metadata"))
    if read.root_missing("UT-ZAP50K"):
        return read.result([], DTYPES)
    meta = read.root.path / meta_file
    if not meta.is_file():
        read.rejects.add(meta, "", Reason.FILE_MISSING, "metadata file not found")
        return read.result([], DTYPES)
    records = read.csv_records(meta, HEADER)
    if records is None:
        return read.result([], DTYPES)
    images_root = read.root.path / images_dir
    index: dict[str, list[Path]] = {}
    if images_root.is_dir() and read.openable(images_root):
        index = _index_images(read, images_root)
    elif not images_root.is_dir():
        read.rejects.add(images_root, "", Reason.FILE_MISSING,
                         "image folder not found; every CID is rejected as image_missing")
    read.stats["image_files"] = sum(len(v) for v in index.values())

    seen: dict[str, int] = {}
    claimed: set[str] = set()
    pending: list[dict] = []
    for where, line_no, fields, record in records:
        try:
            row, image = _parse_line(fields, seen, line_no, index, claimed, images_root, images_dir)
        except RecordError as exc:
            read.rejects.add(where, record, exc.reason, exc.detail)
            continue
        pending.append({"where": where, "record": record, "row": row, "path": str(image),
                        "rel": read.relative(image),
                        "brand": image.parent.name if image.parent != images_root else None})
    read.stats["cids"] = len(seen)
    read.stats["images_without_metadata"] = sum(len(v) for k, v in index.items() if k not in claimed)

    checks = read.check_images([p["path"] for p in pending], check_images)
    rows = _rows(read, pending, checks, schema)
    return read.result(rows, DTYPES)


def _parse_line(fields: list[str], seen: dict[str, int], line_no: int, index: dict[str, list[Path]],
                claimed: set[str], images_root: Path, images_dir: str) -> tuple[dict, Path]:
    """The fields of one metadata line and its image; raises :class:`RecordError`."""
    if len(fields) != len(HEADER):
        raise RecordError(Reason.WRONG_COLUMN_COUNT, f"expected {len(HEADER)} columns, got {len(fields)}")
    row = {name: fields[i].strip() for i, name in enumerate(HEADER)}
    cid = row["CID"]
    match = CID_PATTERN.match(cid)
    if not match:
        raise RecordError(Reason.BAD_CID, f"CID {cid!r} is not of the form <a>-<b>")
    if cid in seen:
        raise RecordError(Reason.DUPLICATE_CID, f"CID {cid} already on line {seen[cid]}")
    seen[cid] = line_no
    name = f"{match.group(1)}.{match.group(2)}"
    candidates = [p for ext in IMAGE_EXTENSIONS for p in index.get(name.lower() + ext, [])]
    claimed.update(name.lower() + ext for ext in IMAGE_EXTENSIONS if name.lower() + ext in index)
    if not any(_split_labels(row[task])[0] for task in TASKS):
        raise RecordError(Reason.NO_LABELS, f"none of {', '.join(TASKS)} holds a label")
    if not candidates:
        raise RecordError(MISSING, f"no image {name}.jpg under {images_dir}/")
    image = _pick_image(candidates, images_root, row["Category"], row["SubCategory"])
    if image is None:
        listed = ", ".join(str(c.relative_to(images_root)) for c in candidates)
        raise RecordError(Reason.AMBIGUOUS_IMAGE, f"several images for CID {cid}: {listed}")
    return row, image


def _rows(read: SourceRead, pending: list[dict], checks: dict, schema: Schema) -> list[dict]:
    """One valid row per (CID, task present) of the CIDs whose image passed."""
    vmap = schema.value_map(SOURCE)
    slot_of_task = task_slots(schema, SOURCE)
    unmapped: Counter = Counter()
    rows: list[dict] = []
    for p, check in read.usable(pending, checks):
        row = p["row"]
        for task, multi in TASKS.items():
            labels, repeats = _split_labels(row[task])
            read.stats["repeated_labels"] += repeats
            if not labels:
                continue
            if not multi and len(labels) > 1:
                read.rejects.add(p["where"], p["record"], Reason.MULTIPLE_LABELS,
                                 f"{task} is single-label but has {labels}")
                continue
            if task == "HeelHeight" and labels[0] not in HEEL_HEIGHTS:
                read.rejects.add(p["where"], p["record"], Reason.UNKNOWN_LABEL,
                                 f"HeelHeight {labels[0]!r} is not one of {list(HEEL_HEIGHTS)}")
                continue
            slot, values = map_labels(vmap, task, labels, unmapped)
            rows.append({
                "source": SOURCE, "image_id": row["CID"], "image_path": p["path"], "task": task,
                "labels": labels, "slot": slot or slot_of_task.get(task), "values": values,
                "multi_label": len(labels) > 1, "image_mode": check.mode or None,
                "cid": row["CID"], "category": row["Category"] or None,
                "subcategory": row["SubCategory"] or None, "brand": p["brand"],
            })
    count_tasks(rows, unmapped, read.stats)
    return rows
