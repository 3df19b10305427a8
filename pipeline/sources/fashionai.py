"""Reader for the FashionAI attribute dataset (Tianchi 2018, rounds 1 and 2).

Layout (``root`` is the folder holding ``Annotations/`` and ``Images/``)::

    Annotations/label.csv      no header, 3 columns: image_path,AttrKey,AttrValues
    Images/<task>/<hash>.jpg   image_path is relative to root

``AttrValues`` holds one character per value position of the task (see
:data:`FASHIONAI_TASKS`): ``y`` correct, ``m`` maybe (ignored), ``n`` wrong. A record needs
exactly one ``y``; its position names the label.

One valid row per (image, task). Labels with no entry in the value map (``Invisible``, and
design values the map leaves out) are kept with empty ``values`` and counted in
``stats["unmapped_labels"]``.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.records import ReadResult, RejectCollector
from pipeline.schema import Schema, default_schema
from pipeline.sources.common import (  # noqa: F401 (BASE_COLUMNS re-exported)
    BASE_COLUMNS, BASE_DTYPES, map_labels, read_result, relative_path, run_image_checks, task_slots,
)

SOURCE = "fashionai"
ANNOTATIONS = "Annotations/label.csv"

# Task -> label name at each position of the y/m/n string (DESIGN.md section 4).
FASHIONAI_TASKS: dict[str, tuple[str, ...]] = {
    "skirt_length_labels": (
        "Invisible", "Short Length", "Knee Length", "Midi Length", "Ankle Length", "Floor Length",
    ),
    "coat_length_labels": (
        "Invisible", "High Waist Length", "Regular Length", "Long Length", "Micro Length",
        "Knee Length", "Midi Length", "Ankle&Floor Length",
    ),
    "collar_design_labels": (
        "Invisible", "Shirt Collar", "Peter Pan", "Puritan Collar", "Rib Collar",
    ),
    "lapel_design_labels": (
        "Invisible", "Notched", "Collarless", "Shawl Collar", "Plus Size Shawl",
    ),
    "neck_design_labels": (
        "Invisible", "Turtle Neck", "Ruffle Semi-High Collar", "Low Turtle Neck", "Draped Collar",
    ),
    "neckline_design_labels": (
        "Invisible", "Strapless Neck", "Deep V Neckline", "Straight Neck", "V Neckline",
        "Square Neckline", "Off Shoulder", "Round Neckline", "Sweat Heart Neck",
        "One Shoulder Neckline",
    ),
    "pant_length_labels": (
        "Invisible", "Short Pant", "Mid Length", "3/4 Length", "Cropped Pant", "Full Length",
    ),
    "sleeve_length_labels": (
        "Invisible", "Sleeveless", "Cup Sleeves", "Short Sleeves", "Elbow Sleeves", "3/4 Sleeves",
        "Wrist Length", "Long Sleeves", "Extra Long Sleeves",
    ),
}

VALID_CHARS = frozenset("ymn")

# Reason codes of this reader (besides the image codes of pipeline.images).
ROOT_MISSING = "root_missing"
FILE_MISSING = "file_missing"
UNREADABLE_FILE = "unreadable_file"
WRONG_COLUMN_COUNT = "wrong_column_count"
UNKNOWN_TASK = "unknown_task"
BAD_IMAGE_PATH = "bad_image_path"
WRONG_LABEL_LENGTH = "wrong_label_length"
INVALID_LABEL_CHAR = "invalid_label_char"
NO_POSITIVE_LABEL = "no_positive_label"
MULTIPLE_POSITIVE_LABELS = "multiple_positive_labels"
DUPLICATE_RECORD = "duplicate_record"

# Column -> dtype of the valid table; text columns are pandas "string" (missing = pd.NA).
DTYPES = {**BASE_DTYPES, "position": "int64", "line": "int64"}
COLUMNS = list(DTYPES)


def read_fashionai(
    root: str | os.PathLike,
    *,
    annotations: str = ANNOTATIONS,
    schema: Schema | None = None,
    check_images: bool = True,
) -> ReadResult:
    """Read a FashionAI attribute release into one row per (image, task), with rejects.

    ``annotations`` is the label file relative to ``root``. With ``check_images=False`` images
    are only tested for existence and ``image_mode`` is None.
    """
    schema = schema or default_schema()
    root = Path(os.path.abspath(root))
    rejects = RejectCollector(SOURCE, root)
    stats: dict[str, Any] = {
        "lines": 0, "blank_lines": 0, "records_parsed": 0, "maybe_marks": 0,
        "images_checked": 0, "image_modes": {}, "images_needing_conversion": 0,
        "rows_per_task": {}, "unmapped_labels": {},
    }

    def done(rows: list[dict]) -> ReadResult:
        return read_result(SOURCE, rows, COLUMNS, DTYPES, rejects, stats)

    if not root.is_dir():
        rejects.add(root, "", ROOT_MISSING, "FashionAI root folder does not exist")
        return done([])
    label_file = root / annotations
    if not label_file.is_file():
        rejects.add(label_file, "", FILE_MISSING, "annotation file not found")
        return done([])
    try:
        text = label_file.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        rejects.add(label_file, "", UNREADABLE_FILE, str(exc))
        return done([])

    slot_of_task = task_slots(schema, SOURCE)
    vmap = schema.value_map(SOURCE)
    unmapped: Counter = Counter()
    pending: list[dict] = []
    first_seen: dict[tuple[str, str], tuple[int, str]] = {}

    for line_no, fields in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        stats["lines"] += 1
        where = f"{label_file}:{line_no}"
        if not fields or all(not f.strip() for f in fields):
            stats["blank_lines"] += 1
            continue
        record = ",".join(fields)
        if len(fields) != 3:
            rejects.add(where, record, WRONG_COLUMN_COUNT, f"expected 3 columns, got {len(fields)}")
            continue
        raw_path, task, marks = (f.strip() for f in fields)
        positions = FASHIONAI_TASKS.get(task)
        if positions is None:
            rejects.add(where, record, UNKNOWN_TASK, f"task {task!r} is not a FashionAI task")
            continue
        rel = relative_path(raw_path)
        if rel is None:
            rejects.add(where, record, BAD_IMAGE_PATH,
                        f"image path {raw_path!r} must be a non-empty path inside the root")
            continue
        if len(marks) != len(positions):
            rejects.add(where, record, WRONG_LABEL_LENGTH,
                        f"{task} has {len(positions)} positions, got {len(marks)} characters")
            continue
        bad = sorted(set(marks) - VALID_CHARS)
        if bad:
            rejects.add(where, record, INVALID_LABEL_CHAR, f"characters {bad} are not y/m/n")
            continue
        ys = [i for i, c in enumerate(marks) if c == "y"]
        if not ys:
            rejects.add(where, record, NO_POSITIVE_LABEL, f"{marks!r} has no 'y'")
            continue
        if len(ys) > 1:
            rejects.add(where, record, MULTIPLE_POSITIVE_LABELS,
                        f"{marks!r} has 'y' at positions {ys}")
            continue
        key = (rel, task)
        if key in first_seen:
            prev_line, prev_marks = first_seen[key]
            same = "the same labels" if prev_marks == marks else f"different labels ({prev_marks})"
            rejects.add(where, record, DUPLICATE_RECORD,
                        f"({rel}, {task}) already on line {prev_line} with {same}")
            continue
        first_seen[key] = (line_no, marks)
        stats["records_parsed"] += 1
        stats["maybe_marks"] += marks.count("m")
        pending.append({"where": where, "record": record, "rel": rel, "task": task,
                        "position": ys[0], "label": positions[ys[0]], "line": line_no})

    checks = run_image_checks([str(root / p["rel"]) for p in pending], check_images, stats)

    rows: list[dict] = []
    per_task: Counter = Counter()
    for p in pending:
        path = str(root / p["rel"])
        check = checks[path]
        if not check.ok:
            rejects.add(p["where"], p["record"], check.reason, f"{p['rel']}: {check.detail}")
            continue
        labels = [p["label"]]
        slot, values = map_labels(vmap, p["task"], labels, unmapped)
        rows.append({
            "source": SOURCE, "image_id": p["rel"], "image_path": path, "task": p["task"],
            "labels": labels, "slot": slot or slot_of_task.get(p["task"]), "values": values,
            "multi_label": False, "image_mode": check.mode or None,
            "position": p["position"], "line": p["line"],
        })
        per_task[p["task"]] += 1
    stats["rows_per_task"] = dict(sorted(per_task.items()))
    stats["unmapped_labels"] = dict(sorted(unmapped.items()))
    return done(rows)
