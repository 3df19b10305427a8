"""Reader for crawled image folders (one folder per attribute and value).

Layout under ``root``::

    <attribute>/<value>/*.{jpg,jpeg,png,webp}      e.g. upper_height/高帮/x.jpg
    manifest.csv (optional)                         header path,label,url,query; path relative

Task = attribute folder, label = value folder. Attribute folders the value map does not know
are rejected (``unknown_attribute``); value folders it does not map are kept with empty
``values`` and counted in ``stats["unmapped_labels"]``. With a manifest, a row whose file is
missing is ``image_missing``, a row whose label disagrees with its folder rejects that image
(``label_mismatch``), and files on disk that the manifest does not list are still read
(``stats["files_not_in_manifest"]``).
"""

from __future__ import annotations

import csv
import io
import os
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.images import MISSING
from pipeline.records import ReadResult, RejectCollector
from pipeline.schema import Schema, default_schema
from pipeline.sources.common import (  # noqa: F401 (BASE_COLUMNS re-exported)
    BASE_COLUMNS, BASE_DTYPES, map_labels, read_result, relative_path, run_image_checks, task_slots,
)

SOURCE = "crawl"
MANIFEST = "manifest.csv"
MANIFEST_HEADER = ("path", "label", "url", "query")
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp"})

# Reason codes of this reader (besides the image codes of pipeline.images).
ROOT_MISSING = "root_missing"
UNREADABLE_FILE = "unreadable_file"
BAD_HEADER = "bad_header"
WRONG_COLUMN_COUNT = "wrong_column_count"
BAD_IMAGE_PATH = "bad_image_path"
DUPLICATE_RECORD = "duplicate_record"
LABEL_MISMATCH = "label_mismatch"
MISPLACED_FILE = "misplaced_file"
UNKNOWN_ATTRIBUTE = "unknown_attribute"
NOT_AN_IMAGE = "not_an_image"

# Column -> dtype of the valid table; text columns are pandas "string" (missing = pd.NA).
DTYPES = {**BASE_DTYPES, "in_manifest": bool, "url": "string", "query": "string"}
COLUMNS = list(DTYPES)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _relative_path(raw: str) -> str | None:
    """Normalised root-relative POSIX path (NFC), or None if empty, absolute or escaping root."""
    norm = relative_path(raw)
    return None if norm is None else _nfc(norm)


def _walk(root: Path, manifest_name: str) -> tuple[dict[str, Path], int]:
    """NFC root-relative POSIX path -> file for every non-hidden file; count of hidden ones."""
    files: dict[str, Path] = {}
    hidden = 0
    for dirpath, dirnames, filenames in os.walk(root):
        hidden += sum(d.startswith(".") for d in dirnames)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                hidden += 1
                continue
            path = Path(dirpath) / name
            rel = _nfc(path.relative_to(root).as_posix())
            if rel == manifest_name:
                continue
            files[rel] = path
    return files, hidden


def _read_manifest(path: Path, rejects: RejectCollector,
                   stats: dict[str, Any]) -> dict[str, dict] | None:
    """Relative path -> {label, url, query, where, record}; None when unusable (rejected)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        rejects.add(path, "", UNREADABLE_FILE, f"{exc}; folders are read without the manifest")
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != MANIFEST_HEADER:
        rejects.add(f"{path}:1", ",".join(header or []), BAD_HEADER,
                    f"header must be {','.join(MANIFEST_HEADER)}; "
                    "the manifest is ignored and folders are read without it")
        return None
    entries: dict[str, dict] = {}
    for fields in reader:
        where = f"{path}:{reader.line_num}"
        if not fields or all(not f.strip() for f in fields):
            stats["manifest_blank_lines"] += 1
            continue
        record = ",".join(fields)
        if len(fields) != len(MANIFEST_HEADER):
            rejects.add(where, record, WRONG_COLUMN_COUNT,
                        f"expected {len(MANIFEST_HEADER)} columns, got {len(fields)}")
            continue
        raw_path, label, url, query = (f.strip() for f in fields)
        rel = _relative_path(raw_path)
        if rel is None or len(rel.split("/")) != 3:
            rejects.add(where, record, BAD_IMAGE_PATH,
                        f"path {raw_path!r} must be <attribute>/<value>/<file> inside the root")
            continue
        if rel in entries:
            rejects.add(where, record, DUPLICATE_RECORD,
                        f"{rel} already listed at {entries[rel]['where']}")
            continue
        entries[rel] = {"label": _nfc(label), "url": url or None, "query": query or None,
                        "where": where, "record": record}
    stats["manifest_rows"] = len(entries)
    return entries


def read_crawl(
    root: str | os.PathLike,
    *,
    manifest: str = MANIFEST,
    schema: Schema | None = None,
    check_images: bool = True,
) -> ReadResult:
    """Read crawled ``<attribute>/<value>/<image>`` folders into one row per image, with rejects.

    ``manifest`` is the optional manifest file relative to ``root``. With
    ``check_images=False`` images are not decoded and ``image_mode`` is None.
    """
    schema = schema or default_schema()
    root = Path(os.path.abspath(root))
    rejects = RejectCollector(SOURCE, root)
    stats: dict[str, Any] = {
        "files": 0, "hidden_entries_skipped": 0, "manifest": False, "manifest_rows": 0,
        "manifest_blank_lines": 0, "files_not_in_manifest": 0, "images_checked": 0,
        "image_modes": {}, "images_needing_conversion": 0, "rows_per_task": {},
        "unmapped_labels": {},
    }

    def done(rows: list[dict]) -> ReadResult:
        return read_result(SOURCE, rows, COLUMNS, DTYPES, rejects, stats)

    if not root.is_dir():
        rejects.add(root, "", ROOT_MISSING, "crawl root folder does not exist")
        return done([])

    manifest_rel = _nfc(manifest.replace("\\", "/"))
    files, stats["hidden_entries_skipped"] = _walk(root, manifest_rel)
    stats["files"] = len(files)
    entries: dict[str, dict] | None = None
    manifest_path = root / manifest
    if manifest_path.is_file():
        stats["manifest"] = True
        entries = _read_manifest(manifest_path, rejects, stats)

    vmap = schema.value_map(SOURCE)
    slot_of_task = task_slots(schema, SOURCE)
    known_attributes = set(slot_of_task)

    if entries is not None:
        for rel, entry in entries.items():
            if rel not in files:
                rejects.add(entry["where"], entry["record"], MISSING,
                            f"{rel} is listed in the manifest but not on disk")

    pending: list[dict] = []
    for rel, path in files.items():
        parts = rel.split("/")
        if len(parts) != 3:
            rejects.add(path, rel, MISPLACED_FILE,
                        "files must sit at <attribute>/<value>/<file> under the root")
            continue
        attribute, value, _name = parts
        if attribute not in known_attributes:
            rejects.add(path, rel, UNKNOWN_ATTRIBUTE,
                        f"attribute folder {attribute!r} is not in the crawl value map "
                        f"(known: {sorted(known_attributes)})")
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            rejects.add(path, rel, NOT_AN_IMAGE,
                        f"extension {path.suffix or '(none)'!r} is not one of "
                        f"{sorted(IMAGE_EXTENSIONS)}")
            continue
        entry = entries.get(rel) if entries is not None else None
        if entries is not None and entry is None:
            stats["files_not_in_manifest"] += 1
        if entry is not None and entry["label"] and entry["label"] != value:
            rejects.add(entry["where"], entry["record"], LABEL_MISMATCH,
                        f"manifest label {entry['label']!r} but folder {value!r}")
            continue
        pending.append({"rel": rel, "path": str(path), "task": attribute, "label": value,
                        "entry": entry})

    checks = run_image_checks([p["path"] for p in pending], check_images, stats)

    unmapped: Counter = Counter()
    per_task: Counter = Counter()
    rows: list[dict] = []
    for p in pending:
        check = checks[p["path"]]
        if not check.ok:
            rejects.add(p["path"], p["rel"], check.reason, check.detail)
            continue
        labels = [p["label"]]
        slot, values = map_labels(vmap, p["task"], labels, unmapped)
        entry = p["entry"]
        rows.append({
            "source": SOURCE, "image_id": p["rel"], "image_path": p["path"], "task": p["task"],
            "labels": labels, "slot": slot or slot_of_task.get(p["task"]), "values": values,
            "multi_label": False, "image_mode": check.mode or None,
            "in_manifest": entry is not None,
            "url": entry["url"] if entry else None, "query": entry["query"] if entry else None,
        })
        per_task[p["task"]] += 1
    stats["rows_per_task"] = dict(sorted(per_task.items()))
    stats["unmapped_labels"] = dict(sorted(unmapped.items()))
    return done(rows)
