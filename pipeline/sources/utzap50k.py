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

import csv
import io
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.images import MISSING
from pipeline.records import ReadResult, RejectCollector
from pipeline.schema import Schema, default_schema
from pipeline.sources.common import (  # noqa: F401 (BASE_COLUMNS re-exported)
    BASE_COLUMNS, BASE_DTYPES, map_labels, read_result, run_image_checks, task_slots,
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

# Reason codes of this reader (besides the image codes of pipeline.images).
ROOT_MISSING = "root_missing"
FILE_MISSING = "file_missing"
UNREADABLE_FILE = "unreadable_file"
BAD_HEADER = "bad_header"
WRONG_COLUMN_COUNT = "wrong_column_count"
BAD_CID = "bad_cid"
DUPLICATE_CID = "duplicate_cid"
AMBIGUOUS_IMAGE = "ambiguous_image"
UNKNOWN_LABEL = "unknown_label"
MULTIPLE_LABELS = "multiple_labels"

# Column -> dtype of the valid table; text columns are pandas "string" (missing = pd.NA).
DTYPES = {**BASE_DTYPES, "cid": "string", "category": "string", "subcategory": "string",
          "brand": "string"}
COLUMNS = list(DTYPES)


def _decode(data: bytes, stats: dict[str, Any]) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        stats["encoding"] = "latin-1 (not valid UTF-8)"
        return data.decode("latin-1")


def _index_images(images_root: Path) -> tuple[dict[str, list[Path]], int]:
    """Lower-cased file name -> paths of every JPEG under ``images_root``; count of others."""
    index: dict[str, list[Path]] = {}
    others = 0
    for dirpath, dirnames, filenames in os.walk(images_root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                index.setdefault(name.lower(), []).append(Path(dirpath) / name)
            else:
                others += 1
    return index, others


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
) -> ReadResult:
    """Read UT-ZAP50K into one row per (CID, task present), with rejects.

    ``meta_file`` and ``images_dir`` are relative to ``root``. With ``check_images=False``
    images are only tested for existence and ``image_mode`` is None.
    """
    schema = schema or default_schema()
    root = Path(os.path.abspath(root))
    rejects = RejectCollector(SOURCE, root)
    stats: dict[str, Any] = {
        "lines": 0, "blank_lines": 0, "cids": 0, "cids_without_tasks": 0,
        "repeated_labels": 0, "image_files": 0, "other_files": 0, "images_without_metadata": 0,
        "images_checked": 0, "image_modes": {}, "images_needing_conversion": 0,
        "rows_per_task": {}, "unmapped_labels": {},
    }

    def done(rows: list[dict]) -> ReadResult:
        return read_result(SOURCE, rows, COLUMNS, DTYPES, rejects, stats)

    if not root.is_dir():
        rejects.add(root, "", ROOT_MISSING, "UT-ZAP50K root folder does not exist")
        return done([])
    meta = root / meta_file
    if not meta.is_file():
        rejects.add(meta, "", FILE_MISSING, "metadata file not found")
        return done([])
    try:
        text = _decode(meta.read_bytes(), stats)
    except OSError as exc:
        rejects.add(meta, "", UNREADABLE_FILE, str(exc))
        return done([])

    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != HEADER:
        rejects.add(f"{meta}:1", ",".join(header or []), BAD_HEADER,
                    f"header must be {','.join(HEADER)}; the whole file is rejected")
        return done([])
    stats["lines"] = 1

    images_root = root / images_dir
    if images_root.is_dir():
        index, stats["other_files"] = _index_images(images_root)
    else:
        rejects.add(images_root, "", FILE_MISSING,
                    "image folder not found; every CID is rejected as image_missing")
        index = {}
    stats["image_files"] = sum(len(v) for v in index.values())

    col = {name: i for i, name in enumerate(HEADER)}
    seen: dict[str, int] = {}
    claimed: set[str] = set()
    pending: list[dict] = []
    for fields in reader:
        line_no = reader.line_num
        stats["lines"] += 1
        where = f"{meta}:{line_no}"
        if not fields or all(not f.strip() for f in fields):
            stats["blank_lines"] += 1
            continue
        record = ",".join(fields)
        if len(fields) != len(HEADER):
            rejects.add(where, record, WRONG_COLUMN_COUNT,
                        f"expected {len(HEADER)} columns, got {len(fields)}")
            continue
        row = {name: fields[i].strip() for name, i in col.items()}
        cid = row["CID"]
        match = CID_PATTERN.match(cid)
        if not match:
            rejects.add(where, record, BAD_CID, f"CID {cid!r} is not of the form <a>-<b>")
            continue
        if cid in seen:
            rejects.add(where, record, DUPLICATE_CID, f"CID {cid} already on line {seen[cid]}")
            continue
        seen[cid] = line_no
        name = f"{match.group(1)}.{match.group(2)}"
        candidates = [p for ext in IMAGE_EXTENSIONS for p in index.get(name.lower() + ext, [])]
        for ext in IMAGE_EXTENSIONS:
            if name.lower() + ext in index:
                claimed.add(name.lower() + ext)
        if not candidates:
            rejects.add(where, record, MISSING, f"no image {name}.jpg under {images_dir}/")
            continue
        image = _pick_image(candidates, images_root, row["Category"], row["SubCategory"])
        if image is None:
            rel = ", ".join(str(c.relative_to(images_root)) for c in candidates)
            rejects.add(where, record, AMBIGUOUS_IMAGE, f"several images for CID {cid}: {rel}")
            continue
        pending.append({"where": where, "record": record, "row": row, "path": str(image),
                        "brand": image.parent.name if image.parent != images_root else None})
    stats["cids"] = len(seen)
    stats["images_without_metadata"] = sum(len(v) for k, v in index.items() if k not in claimed)

    checks = run_image_checks([p["path"] for p in pending], check_images, stats)

    vmap = schema.value_map(SOURCE)
    slot_of_task = task_slots(schema, SOURCE)
    unmapped: Counter = Counter()
    per_task: Counter = Counter()
    rows: list[dict] = []
    for p in pending:
        check = checks[p["path"]]
        row = p["row"]
        if not check.ok:
            rejects.add(p["where"], p["record"], check.reason, f"{p['path']}: {check.detail}")
            continue
        if not any(_split_labels(row[task])[0] for task in TASKS):
            stats["cids_without_tasks"] += 1
        for task, multi in TASKS.items():
            field = row[task]
            if not field:
                continue
            labels, repeats = _split_labels(field)
            stats["repeated_labels"] += repeats
            if not labels:
                continue
            if not multi and len(labels) > 1:
                rejects.add(p["where"], p["record"], MULTIPLE_LABELS,
                            f"{task} is single-label but has {labels}")
                continue
            if task == "HeelHeight" and labels[0] not in HEEL_HEIGHTS:
                rejects.add(p["where"], p["record"], UNKNOWN_LABEL,
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
            per_task[task] += 1
    stats["rows_per_task"] = dict(sorted(per_task.items()))
    stats["unmapped_labels"] = dict(sorted(unmapped.items()))
    return done(rows)
