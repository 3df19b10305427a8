"""MEPAVE reader: the 4-column TSV release (``jdai.jave.fashion.{train,valid,test}``).

Columns: ``cid``, ``sid``, raw sentence, the same sentence with values wrapped as
``<属性>value</属性>``. Spans are character offsets into the raw sentence, end exclusive.
Every line that cannot be used goes to rejects with its own reason; products are assigned a
category by a keyword rule over all their sentences (overridable by a ``cid,category`` CSV).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd

from pipeline.reasons import Reason
from pipeline.records import ReadResult, RejectCollector
from pipeline.schema import CATEGORIES, Schema, default_schema
from pipeline.sources.common import SourceRead

SOURCE = "mepave"
FILE_SPLITS = {"train": "train", "valid": "validation", "validation": "validation", "test": "test"}
# The release's two namings: jd-aig/JAVE's jdai.jave.fashion.{train,valid,test}, and
# jdair.jave.{train,valid,test}.txt in others' scripts.
RELEASE_PREFIXES = ("jdai.jave.", "jdair.jave.")
# A tag is an angle-bracketed name without spaces or brackets. One whose name is no attribute
# (<br>, <M>) is plain text of the sentence.
TAG = re.compile(r"<(/?)([^<>/\s]{1,16})>")

# Reason codes (module names kept for callers; defined in pipeline.reasons).
INVALID_ENCODING = Reason.INVALID_ENCODING
WRONG_COLUMN_COUNT = Reason.WRONG_COLUMN_COUNT
EMPTY_FIELD = Reason.EMPTY_FIELD
UNBALANCED_TAG = Reason.UNBALANCED_TAG
NESTED_TAG = Reason.NESTED_TAG
UNKNOWN_ATTRIBUTE = Reason.UNKNOWN_ATTRIBUTE
EMPTY_VALUE = Reason.EMPTY_VALUE
TEXT_MISMATCH = Reason.TEXT_MISMATCH
DUPLICATE_SID = Reason.DUPLICATE_SID
NO_CATEGORY = Reason.NO_CATEGORY
BAD_CATEGORY_OVERRIDE = Reason.BAD_CATEGORY_OVERRIDE
UNREADABLE_FILE = Reason.UNREADABLE_FILE
NO_FILES = Reason.NO_FILES


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


def parse_tagged(tagged: str, attributes: Iterable[str], text: str | None = None) -> tuple[str, list[Span]]:
    """Strip the tags of column 4; return the plain text and the value spans in it.

    A tag whose name is not an attribute (``<br>``, ``<M>``) is plain text. Given column 3 as
    ``text``, the plain text must equal it: when it does not, an unknown tag was meant as an
    attribute (``unknown_attribute``) or the columns disagree (``text_mismatch``). Without
    ``text``, any unknown tag is ``unknown_attribute``. Raises :class:`TagError`, also for
    nested or unbalanced tags and empty values.
    """
    known = set(attributes)
    plain: list[str] = []
    length = 0
    spans: list[Span] = []
    unknown: list[str] = []
    open_attr: str | None = None
    open_at = open_chunk = 0              # offset and chunk index where the open value starts
    pos = 0
    for m in TAG.finditer(tagged):
        closing, name = m.group(1) == "/", m.group(2)
        if name not in known:
            unknown.append(f"{m.group(0)} at {m.start()}")
            continue                        # plain text: stays in the next chunk
        chunk = tagged[pos : m.start()]
        plain.append(chunk)
        length += len(chunk)
        pos = m.end()
        if not closing:
            if open_attr is not None:
                raise TagError(NESTED_TAG, f"<{name}> opened inside <{open_attr}> at {m.start()}")
            open_attr, open_at, open_chunk = name, length, len(plain)
            continue
        if open_attr is None:
            raise TagError(UNBALANCED_TAG, f"</{name}> at {m.start()} closes nothing")
        if name != open_attr:
            raise TagError(UNBALANCED_TAG, f"</{name}> at {m.start()} closes <{open_attr}>")
        value = "".join(plain[open_chunk:])    # only the value's own chunks: linear in the line
        if not value.strip():
            raise TagError(EMPTY_VALUE, f"<{name}> has an empty value at {m.start()}")
        spans.append(Span(name, value, open_at, length))
        open_attr = None
    if open_attr is not None:
        raise TagError(UNBALANCED_TAG, f"<{open_attr}> is never closed")
    plain.append(tagged[pos:])
    result = "".join(plain)
    if unknown and (text is None or result != text):
        raise TagError(UNKNOWN_ATTRIBUTE, f"tag {unknown[0]} names no attribute")
    if text is not None and result != text:
        raise TagError(TEXT_MISMATCH, "column 3 differs from column 4 without tags")
    return result, spans


def split_of(path: Path) -> str:
    """Split name from a release file name (``jdai.jave.fashion.valid[.sample]``,
    ``jdair.jave.valid.txt``)."""
    for part in reversed(path.name.split(".")):
        if part in FILE_SPLITS:
            return FILE_SPLITS[part]
    return "unknown"


def release_files(read: SourceRead, folder: Path) -> list[Path]:
    """The release files (``jdai.jave.*`` or ``jdair.jave.*``) directly in ``folder``,
    train/validation/test first; links that leave the folder are rejects."""
    files = [p for rel, p in read.files(folder, recursive=False).items() if rel.startswith(RELEASE_PREFIXES)]
    order = {"train": 0, "validation": 1, "test": 2}
    return sorted(files, key=lambda p: (order.get(split_of(p), 3), p.name))


def read_sentences(files: Sequence[Path], schema: Schema | None = None, root: Path | None = None,
                   read: SourceRead | None = None) -> ReadResult:
    """Parse the TSV lines of ``files``; categories are not assigned here. Reject locations are
    relative to ``root`` (the release folder), whose :class:`SourceRead` ``read`` may be given."""
    schema = schema or default_schema()
    if read is None:
        folder = root or (files[0].parent if files else Path("."))
        read = SourceRead(SOURCE, folder, follow_links_outside=True, stats=("lines", "blank_lines"))
    rows: list[dict] = []
    seen_sids: dict[str, str] = {}
    for path in files:
        split = split_of(path)
        for line_no, line in read.text_lines(path):
            location = f"{path}:{line_no}"
            if not line.strip():
                read.stats["blank_lines"] += 1
                continue
            try:
                row = _sentence(line, schema, seen_sids, location)
            except TagError as exc:
                read.rejects.add(location, line, exc.reason, exc.detail)
                continue
            rows.append({**row, "split": split, "file": path.name, "line": line_no})
    valid = pd.DataFrame(rows, columns=["cid", "sid", "split", "text", "tagged", "spans", "file", "line"])
    stats = {"blank_lines": read.stats["blank_lines"], "files": [p.name for p in files]}
    return ReadResult(SOURCE, valid, read.rejects.frame(), stats)


def _sentence(line: str, schema: Schema, seen_sids: dict[str, str], location: str) -> dict:
    """One line's sentence with its value spans; raises :class:`TagError`."""
    cols = line.split("\t")
    if len(cols) != 4:
        raise TagError(WRONG_COLUMN_COUNT, f"{len(cols)} columns, expected 4")
    cid, sid, text, tagged = cols
    if not cid.strip() or not sid.strip() or not text.strip():
        raise TagError(EMPTY_FIELD, "cid, sid and sentence must be non-empty")
    # column 4 equal to column 3 means "no value", whatever angle brackets the sentence holds
    spans = [] if tagged == text else parse_tagged(tagged, schema.mepave_attributes, text)[1]
    if sid in seen_sids:
        raise TagError(DUPLICATE_SID, f"{sid} first seen at {seen_sids[sid]}")
    seen_sids[sid] = location
    to_slot = schema.attribute_to_slot
    return {"cid": cid, "sid": sid, "text": text, "tagged": tagged,
            "spans": [{"attribute": s.attribute, "slot": to_slot[s.attribute], "value": s.value,
                       "start": s.start, "end": s.end} for s in spans]}


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


NO_PRODUCT_WORD = "no category keyword or category-specific slot in any sentence"
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
        return None, NO_PRODUCT_WORD
    order = [c.name for c in schema.categories] + ["other"]
    best = max(order, key=lambda c: (scores.get(c, 0), -order.index(c)))
    detail = ", ".join(f"{c}={n}" for c, n in scores.most_common())
    if best == "other":
        return None, f"keywords point outside the five categories ({detail})"
    return best, detail


def read_category_overrides(path: Path, rejects: RejectCollector) -> dict[str, str]:
    """``cid,category`` CSV (a file the user names, so it is read wherever it is); invalid rows
    are rejected and not applied."""
    read = SourceRead(SOURCE, path.parent, follow_links_outside=True, stats=("lines", "blank_lines"))
    read.rejects = rejects
    overrides: dict[str, str] = {}
    if not path.is_file():
        rejects.add(str(path), "", UNREADABLE_FILE, "no such file")
        return overrides
    for location, line_no, row, text in read.csv_records(path):
        if line_no == 1 and [c.strip() for c in row] == ["cid", "category"]:
            continue
        if len(row) != 2 or row[1].strip() not in CATEGORIES or not row[0].strip():
            rejects.add(location, text, BAD_CATEGORY_OVERRIDE, f"expected cid,category with category in {CATEGORIES}")
            continue
        overrides[row[0].strip()] = row[1].strip()
    return overrides


def no_category_rejects(sentences: pd.DataFrame, why: Callable[[str], str],
                        root: Path | None = None) -> RejectCollector:
    """A ``no_category`` reject for each sentence of ``sentences``, the line as the release
    holds it, and why its product has no category (``why(cid)``)."""
    rejects = RejectCollector(SOURCE, root)
    for row in sentences.itertuples(index=False):
        rejects.add(f"{row.file}:{row.line}", f"{row.cid}\t{row.sid}\t{row.text}\t{row.tagged}",
                    NO_CATEGORY, f"product {row.cid}: {why(row.cid)}")
    return rejects


def assign_categories(sentences: ReadResult, overrides: dict[str, str] | None = None,
                      schema: Schema | None = None) -> ReadResult:
    """Add ``category`` and ``category_source`` (``text`` or ``override``) from the sentences.

    A product whose sentences name no product at all keeps an empty category (source empty):
    its image may still tell (:mod:`pipeline.categorise`). A product whose words point outside
    the five categories (bags, watches) is decided: its sentences go to rejects (``no_category``).
    """
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
    pending = valid["cid"].map(lambda c: decided[c] == (None, NO_PRODUCT_WORD))
    keep = categories.notna() | pending
    rejects = no_category_rejects(valid.loc[~keep], lambda cid: decided[cid][1])
    out = valid.loc[keep].copy()
    out.insert(3, "category", categories[keep].astype("string"))
    out.insert(4, "category_source", out["cid"].map(
        lambda c: "" if decided[c][0] is None else ("override" if decided[c][1] == "override" else "text")))
    stats = dict(sentences.stats)
    stats["products"] = int(out["cid"].nunique())
    stats["products_by_text"] = sum(1 for c, why in decided.values() if c is not None and why != "override")
    stats["products_naming_no_product"] = sum(1 for d in decided.values() if d == (None, NO_PRODUCT_WORD))
    stats["products_outside_the_five"] = sum(1 for c, why in decided.values() if c is None and why != NO_PRODUCT_WORD)
    stats["category_overrides_applied"] = sum(1 for cid in decided if cid in overrides)
    all_rejects = pd.concat([sentences.rejects, rejects.frame()], ignore_index=True)
    return ReadResult(SOURCE, out.reset_index(drop=True), all_rejects, stats)


def read_mepave(root: Path | str, category_overrides: Path | str | None = None,
                schema: Schema | None = None, follow_links_outside: bool = False) -> ReadResult:
    """Read a MEPAVE release (a directory of ``jdai.jave.*`` files, or one file the user names)."""
    schema = schema or default_schema()
    root = Path(os.path.abspath(root))
    given_file = root.is_file()
    folder = root.parent if given_file else root      # reject locations are relative to it
    read = SourceRead(SOURCE, folder, follow_links_outside or given_file, stats=("lines", "blank_lines"))
    files: list[Path] = []
    if not root.exists():
        read.rejects.add(str(root), "", NO_FILES, "path does not exist")
    else:
        files = [root] if given_file else release_files(read, folder)
        if not files and not len(read.rejects):
            read.rejects.add(str(root), "", NO_FILES, f"no {' or '.join(p + '*' for p in RELEASE_PREFIXES)} files found")
    sentences = read_sentences(files, schema, folder, read)
    overrides: dict[str, str] = {}
    if category_overrides is not None:
        collector = RejectCollector(SOURCE, folder)
        overrides = read_category_overrides(Path(category_overrides), collector)
        sentences.rejects = pd.concat([sentences.rejects, collector.frame()], ignore_index=True)
    return assign_categories(sentences, overrides, schema)


def spans_table(result: ReadResult) -> pd.DataFrame:
    """One row per valid sentence: ``cid, sid, text, category, spans`` (the ``--dump`` form)."""
    return result.valid.reindex(columns=["cid", "sid", "text", "category", "spans"]).reset_index(drop=True)


# -- product images ----------------------------------------------------------------------

IMAGE_PATTERN = "{cid}.jpg"


def read_product_images(image_dir: Path | str, cids: Iterable[str], pattern: str = IMAGE_PATTERN,
                        check: bool = True, follow_links_outside: bool = False) -> ReadResult:
    """One image per product: ``image_dir / pattern.format(cid=...)``, through the image check.

    Products whose image is missing, unusable or outside ``image_dir`` land in rejects (they
    stay in the text table: a product without a usable image gets ``none`` image labels later,
    counted), located relative to ``image_dir``.
    """
    read = SourceRead(f"{SOURCE}_images", image_dir, follow_links_outside, stats=("products",))
    cids = list(dict.fromkeys(cids))
    pending = [{"cid": cid, "path": str(read.root.path / pattern.format(cid=cid)), "record": cid,
                "rel": pattern.format(cid=cid)} for cid in cids]
    for p in pending:
        p["where"] = p["path"]
    checks = read.check_images([p["path"] for p in pending], check)
    rows = [{"cid": p["cid"], "image_path": p["path"], "image_mode": c.mode or None,
             "width": c.width or None, "height": c.height or None} for p, c in read.usable(pending, checks)]
    valid = pd.DataFrame(rows, columns=["cid", "image_path", "image_mode", "width", "height"])
    converted = int((valid["image_mode"].notna() & (valid["image_mode"] != "RGB")).sum())
    return ReadResult(f"{SOURCE}_images", valid, read.rejects.frame(), {"products": len(cids), "converted_to_rgb": converted})
