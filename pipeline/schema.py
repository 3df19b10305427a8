"""The MAVP slot schema: slots, categories, value vocabularies, synonyms and source value maps.

Everything here is loaded from human-editable package data in ``pipeline/config/`` (or a
directory given by the caller) and validated on load: a bad entry raises
:class:`SchemaError` naming the file and the entry.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import yaml

CONFIG_DIR = Path(__file__).parent / "config"
CATEGORIES = ("Clothes", "Pants", "Dresses", "Shoes", "Boots")
MODALITIES = ("text", "image")
SLOT_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
# Column and role names the output contract reserves; a slot may not take them.
RESERVED_KEYS = frozenset({"sid", "cid", "category", "text", "image", "split"})


class SchemaError(ValueError):
    """A schema file holds an invalid entry."""

    def __init__(self, path: Path | str, entry: object, reason: str):
        self.path = str(path)
        self.entry = entry
        self.reason = reason
        super().__init__(f"{path}: invalid entry {entry!r}: {reason}")


@dataclass(frozen=True)
class Slot:
    key: str
    zh: str
    paper_modality: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Category:
    name: str
    image_slots: tuple[str, ...]
    text_slots: tuple[str, ...]
    keywords: tuple[str, ...]

    @property
    def slots(self) -> tuple[str, ...]:
        return self.image_slots + self.text_slots


@dataclass(frozen=True)
class ValueMapEntry:
    source: str
    task: str
    label: str
    slot: str
    value: str


@dataclass(frozen=True)
class Schema:
    slots: tuple[Slot, ...]
    categories: tuple[Category, ...]
    other_keywords: tuple[str, ...]
    unmapped_attributes: tuple[str, ...]
    synonyms: dict[tuple[str, str], str] = field(repr=False)
    value_maps: tuple[ValueMapEntry, ...] = field(repr=False)
    # vision source -> its task (or Category column) value -> the MAVP category its images show
    image_categories: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    # -- look-ups -------------------------------------------------------------------------
    @property
    def slot_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.slots)

    def slot(self, key: str) -> Slot:
        for s in self.slots:
            if s.key == key:
                return s
        raise KeyError(key)

    def category(self, name: str) -> Category:
        for c in self.categories:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def attribute_to_slot(self) -> dict[str, str | None]:
        """MEPAVE attribute (Chinese tag) -> slot key; None for attributes with no slot."""
        mapping: dict[str, str | None] = {s.zh: s.key for s in self.slots}
        mapping.update({a: None for a in self.unmapped_attributes})
        return mapping

    @property
    def mepave_attributes(self) -> frozenset[str]:
        return frozenset(self.attribute_to_slot)

    def paper_partition(self) -> dict[str, str]:
        return {s.key: s.paper_modality for s in self.slots}

    def normalize_value(self, slot: str, value: str) -> str | None:
        """Canonical vocabulary value for a raw value, or None if it has none."""
        value = value.strip()
        vocab = self.slot(slot).values
        if value in vocab:
            return value
        return self.synonyms.get((slot, value))

    def value_map(self, source: str, task: str | None = None) -> dict[tuple[str, str], ValueMapEntry]:
        """(task, label) -> entry for one source (optionally one task)."""
        return {
            (e.task, e.label): e
            for e in self.value_maps
            if e.source == source and (task is None or e.task == task)
        }

    def map_label(self, source: str, task: str, label: str) -> ValueMapEntry | None:
        return self.value_map(source).get((task, label))


# -- loading and validation -------------------------------------------------------------------

def _require(cond: bool, path: Path, entry: object, reason: str) -> None:
    if not cond:
        raise SchemaError(path, entry, reason)


def _str_list(value: object, path: Path, entry: object, what: str) -> tuple[str, ...]:
    _require(isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value),
             path, entry, f"{what} must be a list of non-empty strings")
    items = tuple(v.strip() for v in value)
    dupes = sorted({v for v in items if items.count(v) > 1})
    _require(not dupes, path, entry, f"{what} repeats {dupes}")
    return items


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SchemaError(path, None, f"cannot read YAML: {exc}") from exc
    _require(isinstance(data, dict), path, None, "top level must be a mapping")
    return data


def _read_csv(path: Path, columns: Iterable[str]) -> list[tuple[int, dict[str, str]]]:
    columns = list(columns)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            _require(reader.fieldnames == columns, path, reader.fieldnames,
                     f"header must be {','.join(columns)}")
            rows = []
            for line_no, row in enumerate(reader, start=2):
                _require(None not in row and all(row.get(c) is not None for c in columns),
                         path, f"line {line_no}", f"needs exactly {len(columns)} columns")
                rows.append((line_no, {c: row[c].strip() for c in columns}))
            return rows
    except OSError as exc:
        raise SchemaError(path, None, f"cannot read CSV: {exc}") from exc


def _load_slots(path: Path) -> tuple[tuple[Slot, ...], tuple[str, ...]]:
    data = _read_yaml(path)
    raw = data.get("slots")
    _require(isinstance(raw, list) and raw, path, "slots", "must be a non-empty list")
    slots: list[Slot] = []
    for item in raw:
        _require(isinstance(item, dict), path, item, "slot must be a mapping")
        key, zh = item.get("key"), item.get("zh")
        label = key or zh or item
        _require(isinstance(key, str) and bool(SLOT_KEY_PATTERN.match(key)), path, label,
                 "key must be lower_snake_case")
        _require(key not in RESERVED_KEYS, path, key, "key is a reserved column name")
        _require(isinstance(zh, str) and zh.strip() != "", path, key, "zh must be a non-empty string")
        _require(item.get("paper_modality") in MODALITIES, path, key,
                 f"paper_modality must be one of {MODALITIES}")
        values = _str_list(item.get("values"), path, key, "values")
        _require(len(values) >= 2, path, key, "a slot needs at least two values")
        _require("none" not in values, path, key, "'none' is reserved for a missing value")
        slots.append(Slot(key, zh.strip(), item["paper_modality"], values))
    for attr in ("key", "zh"):
        seen = [getattr(s, attr) for s in slots]
        dupes = sorted({v for v in seen if seen.count(v) > 1})
        _require(not dupes, path, dupes, f"duplicate slot {attr}")
    unmapped = _str_list(data.get("unmapped_attributes", []), path, "unmapped_attributes",
                         "unmapped_attributes")
    clash = sorted(set(unmapped) & {s.zh for s in slots})
    _require(not clash, path, clash, "an unmapped attribute is also a slot")
    return tuple(slots), unmapped


def _load_image_categories(path: Path) -> dict[str, dict[str, str]]:
    raw = _read_yaml(path).get("image_categories") or {}
    _require(isinstance(raw, dict), path, "image_categories", "must be a mapping of source -> {task: category}")
    out: dict[str, dict[str, str]] = {}
    for source, table in raw.items():
        _require(isinstance(table, dict), path, f"image_categories.{source}", "must be a mapping of task: category")
        for key, category in table.items():
            _require(category in CATEGORIES, path, f"image_categories.{source}.{key}",
                     f"category must be one of {CATEGORIES}")
        out[str(source)] = {str(k): str(v) for k, v in table.items()}
    return out


def _load_categories(path: Path, slot_keys: set[str]) -> tuple[tuple[Category, ...], tuple[str, ...]]:
    data = _read_yaml(path)
    raw = data.get("categories")
    _require(isinstance(raw, list), path, "categories", "must be a list")
    cats: list[Category] = []
    for item in raw:
        _require(isinstance(item, dict), path, item, "category must be a mapping")
        name = item.get("name")
        _require(name in CATEGORIES, path, name, f"category name must be one of {CATEGORIES}")
        image = _str_list(item.get("image_slots"), path, name, "image_slots")
        text = _str_list(item.get("text_slots"), path, name, "text_slots")
        for s in image + text:
            _require(s in slot_keys, path, f"{name}: {s}", "unknown slot")
        both = sorted(set(image) & set(text))
        _require(not both, path, f"{name}: {both}", "slot is both an image and a text slot")
        keywords = _str_list(item.get("keywords"), path, name, "keywords")
        cats.append(Category(name, image, text, keywords))
    names = [c.name for c in cats]
    _require(sorted(names) == sorted(CATEGORIES), path, names,
             f"must define each of {CATEGORIES} exactly once")
    other = data.get("other") or {}
    _require(isinstance(other, dict), path, "other", "must be a mapping")
    other_kw = _str_list(other.get("keywords", []), path, "other", "keywords")
    return tuple(cats), other_kw


def _load_synonyms(path: Path, slots: dict[str, Slot]) -> dict[tuple[str, str], str]:
    table: dict[tuple[str, str], str] = {}
    for line_no, row in _read_csv(path, ("slot", "variant", "canonical")):
        entry = f"line {line_no}: {row['slot']},{row['variant']},{row['canonical']}"
        _require(row["slot"] in slots, path, entry, "unknown slot")
        _require(row["variant"] != "", path, entry, "empty variant")
        _require(row["canonical"] in slots[row["slot"]].values, path, entry,
                 "canonical value is not in the slot's vocabulary")
        _require(row["variant"] not in slots[row["slot"]].values, path, entry,
                 "variant is itself a vocabulary value")
        key = (row["slot"], row["variant"])
        _require(key not in table, path, entry, "variant listed twice for this slot")
        table[key] = row["canonical"]
    return table


def _load_value_maps(path: Path, slots: dict[str, Slot]) -> tuple[ValueMapEntry, ...]:
    entries: list[ValueMapEntry] = []
    seen: set[tuple[str, str, str]] = set()
    for line_no, row in _read_csv(path, ("source", "task", "label", "slot", "value")):
        entry = f"line {line_no}: " + ",".join(row.values())
        _require(all(row.values()), path, entry, "empty field")
        _require(row["slot"] in slots, path, entry, "unknown slot")
        _require(row["value"] in slots[row["slot"]].values, path, entry,
                 "value is not in the slot's vocabulary")
        key = (row["source"], row["task"], row["label"])
        _require(key not in seen, path, entry, "label mapped twice")
        seen.add(key)
        entries.append(ValueMapEntry(**row))
    return tuple(entries)


def load_schema(config_dir: Path | str | None = None) -> Schema:
    """Load and validate the schema from ``config_dir`` (default: the packaged config)."""
    root = Path(config_dir) if config_dir is not None else CONFIG_DIR
    slots, unmapped = _load_slots(root / "slots.yaml")
    by_key = {s.key: s for s in slots}
    categories, other_kw = _load_categories(root / "categories.yaml", set(by_key))
    return Schema(
        slots=slots,
        categories=categories,
        other_keywords=other_kw,
        unmapped_attributes=unmapped,
        image_categories=_load_image_categories(root / "categories.yaml"),
        synonyms=_load_synonyms(root / "synonyms.csv", by_key),
        value_maps=_load_value_maps(root / "value_maps.csv", by_key),
    )


@lru_cache(maxsize=1)
def default_schema() -> Schema:
    return load_schema()
