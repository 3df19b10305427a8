"""MEPAVE reader: the 4-column TSV release (``jdai.jave.fashion.{train,valid,test}``).

Columns: ``cid``, ``sid``, raw sentence, the same sentence with values wrapped as
``<属性>value</属性>``. Spans are character offsets into the raw sentence, end exclusive.
Every line that cannot be used goes to rejects with its own reason; products are assigned a
category by a keyword rule over all their sentences (overridable by a ``cid,category`` CSV).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from pipeline.records import ReadResult, RejectCollector
from pipeline.schema import CATEGORIES, Schema, default_schema

SOURCE = "mepave"
FILE_SPLITS = {"train": "train", "valid": "validation", "validation": "validation", "test": "test"}
# A tag is an angle-bracketed name without spaces or brackets; anything else is plain text.
TAG = re.compile(r"<(/?)([^<>/\s]{1,16})>")

# Reason codes.
INVALID_ENCODING = "invalid_encoding"
WRONG_COLUMN_COUNT = "wrong_column_count"
EMPTY_FIELD = "empty_field"
UNBALANCED_TAG = "unbalanced_tag"
NESTED_TAG = "nested_tag"
UNKNOWN_ATTRIBUTE = "unknown_attribute"
EMPTY_VALUE = "empty_value"
TEXT_MISMATCH = "text_mismatch"
DUPLICATE_SID = "duplicate_sid"
NO_CATEGORY = "no_category"
BAD_CATEGORY_OVERRIDE = "bad_category_override"
FILE_UNREADABLE = "file_unreadable"
NO_FILES = "no_files"


@dataclass(frozen=True)
class Span:
    attribute: str
    value: str
    start: int
    end: int


class TagError(ValueError):
    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def parse_tagged(tagged: str, attributes: Iterable[str]) -> tuple[str, list[Span]]:
    """Strip the tags of column 4; return the plain text and the value spans in it.

    Raises :class:`TagError` for nested, unbalanced or unknown tags and empty values.
    """
    known = set(attributes)
    plain: list[str] = []
    length = 0
    spans: list[Span] = []
    open_attr: str | None = None
    open_at = 0
    pos = 0
    for m in TAG.finditer(tagged):
        chunk = tagged[pos : m.start()]
        plain.append(chunk)
        length += len(chunk)
        pos = m.end()
        closing, name = m.group(1) == "/", m.group(2)
        if name not in known:
            raise TagError(UNKNOWN_ATTRIBUTE, f"tag {m.group(0)} at {m.start()}")
        if not closing:
            if open_attr is not None:
                raise TagError(NESTED_TAG, f"<{name}> opened inside <{open_attr}> at {m.start()}")
            open_attr, open_at = name, length
            continue
        if open_attr is None:
            raise TagError(UNBALANCED_TAG, f"</{name}> at {m.start()} closes nothing")
        if name != open_attr:
            raise TagError(UNBALANCED_TAG, f"</{name}> at {m.start()} closes <{open_attr}>")
        value = "".join(plain)[open_at:length]
        if not value.strip():
            raise TagError(EMPTY_VALUE, f"<{name}> has an empty value at {m.start()}")
        spans.append(Span(name, value, open_at, length))
        open_attr = None
    if open_attr is not None:
        raise TagError(UNBALANCED_TAG, f"<{open_attr}> is never closed")
    plain.append(tagged[pos:])
    return "".join(plain), spans


def split_of(path: Path) -> str:
    """Split name from a release file name (``jdai.jave.fashion.valid[.sample]``)."""
    for part in reversed(path.name.split(".")):
        if part in FILE_SPLITS:
            return FILE_SPLITS[part]
    return "unknown"


def find_files(root: Path) -> list[Path]:
    """The release files under ``root`` (a file is taken as it is)."""
    if root.is_file():
        return [root]
    files = [p for p in sorted(root.iterdir()) if p.is_file() and p.name.startswith("jdai.jave.")]
    order = {"train": 0, "validation": 1, "test": 2}
    return sorted(files, key=lambda p: (order.get(split_of(p), 3), p.name))


def _read_lines(path: Path, rejects: RejectCollector) -> Iterable[tuple[int, str]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        rejects.add(str(path), "", FILE_UNREADABLE, str(exc))
        return
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line opens no new one
    for line_no, raw in enumerate(lines, start=1):
        raw = raw.removesuffix(b"\r")
        try:
            yield line_no, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            rejects.add(f"{path}:{line_no}", raw.decode("utf-8", "replace"), INVALID_ENCODING, str(exc))


def read_sentences(files: Sequence[Path], schema: Schema | None = None, root: Path | None = None) -> ReadResult:
    """Parse the TSV lines of ``files``; categories are not assigned here. Reject locations are
    relative to ``root`` (the release folder)."""
    schema = schema or default_schema()
    attributes = schema.mepave_attributes
    to_slot = schema.attribute_to_slot
    rejects = RejectCollector(SOURCE, root)
    rows: list[dict] = []
    seen_sids: dict[str, str] = {}
    blank = 0
    for path in files:
        split = split_of(path)
        for line_no, line in _read_lines(path, rejects):
            location = f"{path}:{line_no}"
            if not line.strip():
                blank += 1
                continue
            cols = line.split("\t")
            if len(cols) != 4:
                rejects.add(location, line, WRONG_COLUMN_COUNT, f"{len(cols)} columns, expected 4")
                continue
            cid, sid, text, tagged = cols
            if not cid.strip() or not sid.strip() or not text.strip():
                rejects.add(location, line, EMPTY_FIELD, "cid, sid and sentence must be non-empty")
                continue
            try:
                plain, spans = parse_tagged(tagged, attributes)
            except TagError as exc:
                rejects.add(location, line, exc.reason, exc.detail)
                continue
            if plain != text:
                rejects.add(location, line, TEXT_MISMATCH, "column 3 differs from column 4 without tags")
                continue
            if sid in seen_sids:
                rejects.add(location, line, DUPLICATE_SID, f"{sid} first seen at {seen_sids[sid]}")
                continue
            seen_sids[sid] = location
            rows.append({
                "cid": cid, "sid": sid, "split": split, "text": text, "tagged": tagged,
                "spans": [
                    {"attribute": s.attribute, "slot": to_slot[s.attribute], "value": s.value,
                     "start": s.start, "end": s.end}
                    for s in spans
                ],
                "file": path.name, "line": line_no,
            })
    valid = pd.DataFrame(rows, columns=["cid", "sid", "split", "text", "tagged", "spans", "file", "line"])
    return ReadResult(SOURCE, valid, rejects.frame(), {"blank_lines": blank, "files": [p.name for p in files]})


# -- categories ---------------------------------------------------------------------------

def _keyword_table(schema: Schema) -> list[tuple[str, str]]:
    pairs = [(kw, c.name) for c in schema.categories for kw in c.keywords]
    pairs += [(kw, "other") for kw in schema.other_keywords]
    # Longest first so 连衣裙 is consumed before 衣 can match inside it.
    return sorted(pairs, key=lambda p: -len(p[0]))


def _slot_owners(schema: Schema) -> dict[str, str]:
    """Slots that belong to exactly one category (e.g. skirt_length -> Dresses)."""
    owners: dict[str, list[str]] = {}
    for c in schema.categories:
        for slot in c.slots:
            owners.setdefault(slot, []).append(c.name)
    return {slot: cats[0] for slot, cats in owners.items() if len(cats) == 1}


# An annotated slot owned by one category is weaker evidence than a product word.
SLOT_EVIDENCE_WEIGHT = 0.5


def category_scores(texts: Iterable[str], schema: Schema | None = None,
                    slots: Iterable[str | None] = ()) -> Counter:
    """Keyword hits per category over a product's sentences; each character counts once.

    ``slots`` are the product's annotated slots: a slot that only one category has
    (裙长, 裤长, 鞋帮高度, ...) adds SLOT_EVIDENCE_WEIGHT to that category.
    """
    schema = schema or default_schema()
    scores: Counter = Counter()
    owners = _slot_owners(schema)
    for slot in slots:
        if slot in owners:
            scores[owners[slot]] += SLOT_EVIDENCE_WEIGHT
    table = _keyword_table(schema)
    for text in texts:
        used = [False] * len(text)
        for kw, cat in table:
            start = text.find(kw)
            while start != -1:
                end = start + len(kw)
                if not any(used[start:end]):
                    scores[cat] += 1
                    used[start:end] = [True] * len(kw)
                start = text.find(kw, start + 1)
    return scores


def categorize(texts: Iterable[str], schema: Schema | None = None,
               slots: Iterable[str | None] = ()) -> tuple[str | None, str]:
    """The category of one product and why; None when it is none of the five."""
    schema = schema or default_schema()
    scores = category_scores(texts, schema, slots)
    if not scores:
        return None, "no category keyword or category-specific slot in any sentence"
    order = [c.name for c in schema.categories] + ["other"]
    best = max(order, key=lambda c: (scores.get(c, 0), -order.index(c)))
    detail = ", ".join(f"{c}={n}" for c, n in scores.most_common())
    if best == "other":
        return None, f"keywords point outside the five categories ({detail})"
    return best, detail


def read_category_overrides(path: Path, rejects: RejectCollector) -> dict[str, str]:
    """``cid,category`` CSV; invalid rows are rejected and not applied."""
    overrides: dict[str, str] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for line_no, row in enumerate(csv.reader(fh), start=1):
                location = f"{path}:{line_no}"
                if line_no == 1 and [c.strip() for c in row] == ["cid", "category"]:
                    continue
                if not row or not any(c.strip() for c in row):
                    continue
                if len(row) != 2 or row[1].strip() not in CATEGORIES or not row[0].strip():
                    rejects.add(location, ",".join(row), BAD_CATEGORY_OVERRIDE,
                                f"expected cid,category with category in {CATEGORIES}")
                    continue
                overrides[row[0].strip()] = row[1].strip()
    except OSError as exc:
        rejects.add(str(path), "", FILE_UNREADABLE, str(exc))
    return overrides


def assign_categories(sentences: ReadResult, overrides: dict[str, str] | None = None,
                      schema: Schema | None = None) -> ReadResult:
    """Add a ``category`` column; sentences of products in none of the five go to rejects."""
    schema = schema or default_schema()
    overrides = overrides or {}
    valid = sentences.valid
    decided: dict[str, tuple[str | None, str]] = {}
    for cid, group in valid.groupby("cid", sort=False):
        if cid in overrides:
            decided[cid] = (overrides[cid], "override")
            continue
        slots = [span["slot"] for spans in group["spans"] for span in spans]
        decided[cid] = categorize(group["text"], schema, slots)
    categories = valid["cid"].map(lambda c: decided[c][0])
    keep = categories.notna()
    rejects = RejectCollector(SOURCE)
    for row in valid.loc[~keep].itertuples(index=False):
        rejects.add(f"{row.file}:{row.line}", f"{row.cid}\t{row.sid}\t{row.text}\t{row.tagged}",
                    NO_CATEGORY, f"product {row.cid}: {decided[row.cid][1]}")
    out = valid.loc[keep].copy()
    out.insert(3, "category", categories[keep].astype(str))
    stats = dict(sentences.stats)
    stats["products"] = int(out["cid"].nunique())
    stats["products_without_category"] = sum(1 for c, _ in decided.values() if c is None)
    stats["category_overrides_applied"] = sum(1 for cid in decided if cid in overrides)
    all_rejects = pd.concat([sentences.rejects, rejects.frame()], ignore_index=True)
    return ReadResult(SOURCE, out.reset_index(drop=True), all_rejects, stats)


def read_mepave(root: Path | str, category_overrides: Path | str | None = None,
                schema: Schema | None = None) -> ReadResult:
    """Read a MEPAVE release (a directory of ``jdai.jave.*`` files, or one file)."""
    schema = schema or default_schema()
    root = Path(root)
    folder = root.parent if root.is_file() else root      # reject locations are relative to it
    if not root.exists():
        rejects = RejectCollector(SOURCE, folder)
        rejects.add(str(root), "", NO_FILES, "path does not exist")
        return ReadResult(SOURCE, read_sentences([], schema).valid.assign(category=pd.Series(dtype=str)),
                          rejects.frame(), {"blank_lines": 0, "files": []})
    files = find_files(root)
    sentences = read_sentences(files, schema, folder)
    if not files:
        extra = RejectCollector(SOURCE, folder)
        extra.add(str(root), "", NO_FILES, "no jdai.jave.* files found")
        sentences.rejects = pd.concat([sentences.rejects, extra.frame()], ignore_index=True)
    overrides: dict[str, str] = {}
    if category_overrides is not None:
        collector = RejectCollector(SOURCE, folder)
        overrides = read_category_overrides(Path(category_overrides), collector)
        sentences.rejects = pd.concat([sentences.rejects, collector.frame()], ignore_index=True)
    return assign_categories(sentences, overrides, schema)


def spans_table(result: ReadResult) -> pd.DataFrame:
    """One row per valid sentence: ``cid, sid, text, category, spans`` (the ``--dump`` form)."""
    return result.valid[["cid", "sid", "text", "category", "spans"]].reset_index(drop=True)


# -- product images ----------------------------------------------------------------------

IMAGE_PATTERN = "{cid}.jpg"


def read_product_images(image_dir: Path | str, cids: Iterable[str], pattern: str = IMAGE_PATTERN,
                        check: bool = True) -> ReadResult:
    """One image per product: ``image_dir / pattern.format(cid=...)``, through the image check.

    Products whose image is missing or unusable land in rejects (they stay in the text
    table: a product without a usable image gets ``none`` image labels later, counted), located
    relative to ``image_dir``.
    """
    from pipeline.images import MISSING, check_images

    image_dir = Path(image_dir)
    cids = list(dict.fromkeys(cids))
    paths = [image_dir / pattern.format(cid=cid) for cid in cids]
    rejects = RejectCollector(f"{SOURCE}_images", image_dir)
    rows = []
    if check:
        checks = check_images(paths)
    else:
        checks = [None] * len(paths)
    for cid, path, result in zip(cids, paths, checks):
        if result is None:
            if not path.is_file():
                rejects.add(str(path), cid, MISSING, "no such file")
                continue
            rows.append({"cid": cid, "image_path": str(path), "image_mode": None, "width": None, "height": None})
            continue
        if not result.ok:
            rejects.add(str(path), cid, result.reason, result.detail)
            continue
        rows.append({"cid": cid, "image_path": str(path), "image_mode": result.mode,
                     "width": result.width, "height": result.height})
    valid = pd.DataFrame(rows, columns=["cid", "image_path", "image_mode", "width", "height"])
    converted = int((valid["image_mode"].notna() & (valid["image_mode"] != "RGB")).sum())
    return ReadResult(f"{SOURCE}_images", valid, rejects.frame(),
                      {"products": len(cids), "converted_to_rgb": converted})
