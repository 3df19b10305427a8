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

import os
from collections import Counter
from pathlib import Path

from pipeline.images import MISSING
from pipeline.reasons import Reason
from pipeline.records import ReadResult
from pipeline.schema import Schema, default_schema
from pipeline.sources.common import (  # noqa: F401 (BASE_COLUMNS re-exported)
    BASE_COLUMNS, BASE_DTYPES, VISION_STATS, SourceRead, count_tasks, map_labels, nfc, relative_path, task_slots,
)

SOURCE = "crawl"
MANIFEST = "manifest.csv"
MANIFEST_HEADER = ("path", "label", "url", "query")
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp"})
IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "WEBP")

# Column -> dtype of the valid table; text columns are pandas "string" (missing = pd.NA).
DTYPES = {**BASE_DTYPES, "in_manifest": bool, "url": "string", "query": "string"}
COLUMNS = list(DTYPES)


def _relative_path(raw: str) -> str | None:
    """Normalised root-relative POSIX path (NFC), or None if empty, absolute or escaping root."""
    norm = relative_path(raw)
    return None if norm is None else nfc(norm)


def _read_manifest(read: SourceRead, path: Path) -> dict[str, dict] | None:
    """Relative path -> {label, url, query, where, record}; None when unusable (rejected)."""
    records = read.csv_records(path, MANIFEST_HEADER)
    if records is None:
        return None
    entries: dict[str, dict] = {}
    for where, _line_no, fields, record in records:
        if len(fields) != len(MANIFEST_HEADER):
            read.rejects.add(where, record, Reason.WRONG_COLUMN_COUNT,
                             f"expected {len(MANIFEST_HEADER)} columns, got {len(fields)}")
            continue
        raw_path, label, url, query = (f.strip() for f in fields)
        rel = _relative_path(raw_path)
        if rel is None or len(rel.split("/")) != 3:
            read.rejects.add(where, record, Reason.BAD_IMAGE_PATH,
                             f"path {raw_path!r} must be <attribute>/<value>/<file> inside the root")
            continue
        if rel in entries:
            read.rejects.add(where, record, Reason.DUPLICATE_RECORD,
                             f"{rel} already listed at {entries[rel]['where']}")
            continue
        entries[rel] = {"label": nfc(label), "url": url or None, "query": query or None,
                        "where": where, "record": record}
    read.stats["manifest_rows"] = len(entries)
    return entries


def read_crawl(
    root: str | os.PathLike,
    *,
    manifest: str = MANIFEST,
    schema: Schema | None = None,
    check_images: bool = True,
    follow_links_outside: bool = False,
) -> ReadResult:
    """Read crawled ``<attribute>/<value>/<image>`` folders into one row per image, with rejects.

    ``manifest`` is the optional manifest file relative to ``root``. With
    ``check_images=False`` images are not decoded and ``image_mode`` is None.
    """
    schema = schema or default_schema()
    read = SourceRead(SOURCE, root, follow_links_outside,
                      (*VISION_STATS, "files", "hidden_entries_skipped", "manifest", "manifest_rows",
                       "files_not_in_manifest"), image_formats=IMAGE_FORMATS)
    read.stats["manifest"] = False
    if read.root_missing("crawl"):
        return read.result([], DTYPES)
    manifest_rel = nfc(manifest.replace("\\", "/"))
    files = read.files(read.root.path, skip_hidden=True)
    files.pop(manifest_rel, None)
    read.stats["files"] = len(files)
    entries: dict[str, dict] | None = None
    manifest_path = read.root.path / manifest
    if manifest_path.is_file():
        read.stats["manifest"] = True
        entries = _read_manifest(read, manifest_path)
    for rel, entry in (entries or {}).items():
        if rel in files:
            continue
        if any(part.startswith(".") for part in rel.split("/")) and (read.root.path / rel).exists():
            read.rejects.add(entry["where"], entry["record"], Reason.HIDDEN_FILE,
                             f"{rel} is on disk but hidden (names starting with '.' are skipped); rename it to read it")
        else:
            read.rejects.add(entry["where"], entry["record"], MISSING, f"{rel} is listed in the manifest but not on disk")

    known_attributes = set(task_slots(schema, SOURCE))
    pending = [p for rel, path in files.items()
               if (p := _pending(read, rel, path, entries, known_attributes)) is not None]
    checks = read.check_images([p["path"] for p in pending], check_images)
    vmap = schema.value_map(SOURCE)
    slot_of_task = task_slots(schema, SOURCE)
    unmapped: Counter = Counter()
    rows: list[dict] = []
    for p, check in read.usable(pending, checks):
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
    count_tasks(rows, unmapped, read.stats)
    return read.result(rows, DTYPES)


def _pending(read: SourceRead, rel: str, path: Path, entries: dict[str, dict] | None,
             known_attributes: set[str]) -> dict | None:
    """The file as a record to check, or None (a reject: misplaced, unknown attribute, not an
    image, or its manifest row disagrees)."""
    parts = rel.split("/")
    if len(parts) != 3:
        read.rejects.add(path, rel, Reason.MISPLACED_FILE, "files must sit at <attribute>/<value>/<file> under the root")
        return None
    attribute, value, _name = parts
    if attribute not in known_attributes:
        read.rejects.add(path, rel, Reason.UNKNOWN_ATTRIBUTE, f"attribute folder {attribute!r} is not in the crawl "
                                                               f"value map (known: {sorted(known_attributes)})")
        return None
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        read.rejects.add(path, rel, Reason.NOT_AN_IMAGE,
                         f"extension {path.suffix or '(none)'!r} is not one of {sorted(IMAGE_EXTENSIONS)}")
        return None
    entry = entries.get(rel) if entries is not None else None
    if entries is not None and entry is None:
        read.stats["files_not_in_manifest"] += 1
    if entry is not None and entry["label"] and entry["label"] != value:
        read.rejects.add(entry["where"], entry["record"], Reason.LABEL_MISMATCH,
                         f"manifest label {entry['label']!r} but folder {value!r}")
        return None
    return {"rel": rel, "path": str(path), "task": attribute, "label": value, "entry": entry,
            "where": str(path), "record": rel}
