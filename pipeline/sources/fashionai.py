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

import os
from collections import Counter

from pipeline.reasons import Reason
from pipeline.records import ReadResult
from pipeline.schema import Schema, default_schema
from pipeline.sources.common import (  # noqa: F401 (BASE_COLUMNS re-exported)
    BASE_COLUMNS, BASE_DTYPES, VISION_STATS, RecordError, SourceRead, count_tasks, map_labels, relative_path,
    task_slots,
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

# Column -> dtype of the valid table; text columns are pandas "string" (missing = pd.NA).
DTYPES = {**BASE_DTYPES, "position": "int64", "line": "int64"}
COLUMNS = list(DTYPES)


def read_fashionai(
    root: str | os.PathLike,
    *,
    annotations: str = ANNOTATIONS,
    schema: Schema | None = None,
    check_images: bool = True,
    follow_links_outside: bool = False,
) -> ReadResult:
    """Read a FashionAI attribute release into one row per (image, task), with rejects.

    ``annotations`` is the label file relative to ``root``. With ``check_images=False`` images
    are only tested for existence and ``image_mode`` is None.
    """
    schema = schema or default_schema()
    read = SourceRead(SOURCE, root, follow_links_outside, (*VISION_STATS, "records_parsed", "maybe_marks"))
    if read.root_missing("FashionAI"):
        return read.result([], DTYPES)
    label_file = read.root.path / annotations
    if not label_file.is_file():
        read.rejects.add(label_file, "", Reason.FILE_MISSING, "annotation file not found")
        return read.result([], DTYPES)
    pending: list[dict] = []
    first_seen: dict[tuple[str, str], tuple[int, str]] = {}
    for where, line_no, fields, record in read.csv_records(label_file):
        try:
            p = _parse_line(fields, first_seen, line_no)
        except RecordError as exc:
            read.rejects.add(where, record, exc.reason, exc.detail)
            continue
        read.stats["records_parsed"] += 1
        read.stats["maybe_marks"] += p.pop("maybe")
        pending.append({**p, "where": where, "record": record, "path": str(read.root.path / p["rel"])})

    checks = read.check_images([p["path"] for p in pending], check_images)
    slot_of_task = task_slots(schema, SOURCE)
    vmap = schema.value_map(SOURCE)
    unmapped: Counter = Counter()
    rows: list[dict] = []
    for p, check in read.usable(pending, checks):
        labels = [p["label"]]
        slot, values = map_labels(vmap, p["task"], labels, unmapped)
        rows.append({
            "source": SOURCE, "image_id": p["rel"], "image_path": p["path"], "task": p["task"],
            "labels": labels, "slot": slot or slot_of_task.get(p["task"]), "values": values,
            "multi_label": False, "image_mode": check.mode or None,
            "position": p["position"], "line": p["line"],
        })
    count_tasks(rows, unmapped, read.stats)
    return read.result(rows, DTYPES)


def _parse_line(fields: list[str], first_seen: dict[tuple[str, str], tuple[int, str]], line_no: int) -> dict:
    """The usable parts of one label line; raises :class:`RecordError`."""
    if len(fields) != 3:
        raise RecordError(Reason.WRONG_COLUMN_COUNT, f"expected 3 columns, got {len(fields)}")
    raw_path, task, marks = (f.strip() for f in fields)
    positions = FASHIONAI_TASKS.get(task)
    if positions is None:
        raise RecordError(Reason.UNKNOWN_TASK, f"task {task!r} is not a FashionAI task")
    rel = relative_path(raw_path)
    if rel is None:
        raise RecordError(Reason.BAD_IMAGE_PATH, f"image path {raw_path!r} must be a non-empty path inside the root")
    if len(marks) != len(positions):
        raise RecordError(Reason.WRONG_LABEL_LENGTH,
                          f"{task} has {len(positions)} positions, got {len(marks)} characters")
    bad = sorted(set(marks) - VALID_CHARS)
    if bad:
        raise RecordError(Reason.INVALID_LABEL_CHAR, f"characters {bad} are not y/m/n")
    ys = [i for i, c in enumerate(marks) if c == "y"]
    if not ys:
        raise RecordError(Reason.NO_POSITIVE_LABEL, f"{marks!r} has no 'y'")
    if len(ys) > 1:
        raise RecordError(Reason.MULTIPLE_POSITIVE_LABELS, f"{marks!r} has 'y' at positions {ys}")
    key = (rel, task)
    if key in first_seen:
        prev_line, prev_marks = first_seen[key]
        same = "the same labels" if prev_marks == marks else f"different labels ({prev_marks})"
        raise RecordError(Reason.DUPLICATE_RECORD, f"({rel}, {task}) already on line {prev_line} with {same}")
    first_seen[key] = (line_no, marks)
    return {"rel": rel, "task": task, "position": ys[0], "label": positions[ys[0]], "line": line_no,
            "maybe": marks.count("m")}
