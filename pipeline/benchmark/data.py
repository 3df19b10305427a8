"""The MuJo-SF task read from a published MAVP folder: one instance per row of the splits, the
text-dependent and image-dependent slots of its category as targets, its product image.

The slots and their candidates come from the folder's ``schema.json``: the text slots are the
union of the categories' ``text_slots``, the image slots of their ``image_slots``; each slot's
candidates are its vocabulary and ``none``. An instance is scored on the slots of its own
category only (target -1 elsewhere), as JGA and SA count them (eqs. 13-14).

A row that cannot be used goes to the rejects with its reason: a category the schema does not
have, a slot value outside its vocabulary, an image that does not decode. A row without an
image (the dataset's products with no usable image) keeps a blank one: its image slots are
``none`` in the dataset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from models.backbones import resize_square
from models.mujo_sf import NONE, SlotSet
from pipeline.images import decode_rgb
from pipeline.io import content_key, finish_npy, new_npy, write_json
from pipeline.benchmark.metrics import IGNORE
from pipeline.mavp.publish import IMAGE_COLUMN, split_files
from pipeline.reasons import Reason
from pipeline.records import RejectCollector

SOURCE = "mujo_sf"
SPLITS = ("train", "validation", "test")


@dataclass
class SlotData:
    frame: pd.DataFrame                 # sid, cid, category, text, split: one row per instance
    text_slots: SlotSet
    image_slots: SlotSet
    text_targets: np.ndarray            # (N, S_text) candidate index, IGNORE where the category has no such slot
    image_targets: np.ndarray           # (N, S_img)
    image_reliability: np.ndarray       # (N, S_img) the label's reliability; NaN where it is no image label
    pixels: np.ndarray                  # (P, size, size, 3) uint8, one per product image, row 0 blank
    pixel_row: np.ndarray               # (N,) each instance's row of ``pixels``
    rejects: pd.DataFrame
    key: str                            # content key of everything above

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.frame["split"].to_numpy() == split)


def slot_sets(schema: dict) -> tuple[SlotSet, SlotSet]:
    """(text slots, image slots) of a dataset's ``schema.json``, in the schema's slot order."""
    by_key = {s["key"]: s for s in schema["slots"]}
    sets = []
    for kind in ("text_slots", "image_slots"):
        used = {k for c in schema["categories"] for k in c[kind]}
        keys = tuple(k for k in by_key if k in used)
        sets.append(SlotSet(keys, tuple((*by_key[k]["values"], NONE) for k in keys),
                            tuple(by_key[k].get("zh") or k for k in keys)))
    return sets[0], sets[1]


def _read_split(path: Path, split: str, columns: list[str]) -> pd.DataFrame:
    names = pq.read_schema(path).names
    frame = pd.read_parquet(path, columns=[c for c in columns if c in names])
    return frame.assign(split=split)


def _targets(frame: pd.DataFrame, slots: SlotSet, kind: str, categories: dict, rejects: RejectCollector,
             bad: np.ndarray) -> np.ndarray:
    """Candidate index of each row's value of each slot of its category; marks rows with a value
    outside the vocabulary in ``bad``."""
    out = np.full((len(frame), len(slots)), IGNORE, np.int64)
    for j, (slot, candidates) in enumerate(zip(slots.names, slots.candidates)):
        index = {v: i for i, v in enumerate(candidates)}
        applies = frame["category"].map(lambda c: slot in categories.get(c, {}).get(kind, ())).to_numpy(bool)
        values = frame[slot].fillna(NONE).astype(str).to_numpy() if slot in frame else np.full(len(frame), NONE)
        for i in np.flatnonzero(applies):
            if values[i] in index:
                out[i, j] = index[values[i]]
            elif not bad[i]:
                bad[i] = True
                rejects.add(frame["split"].iat[i], frame["sid"].iat[i], Reason.VALUE_NOT_IN_VOCABULARY,
                            f"{slot} = {values[i]!r}")
    return out


def _product_images(files: dict[str, Path]):
    """(split, cid, image bytes) of each product's first row with an image, a batch of rows at a
    time (the bytes of every row are never all held)."""
    seen: set[str] = set()
    for split in SPLITS:
        if IMAGE_COLUMN not in pq.read_schema(files[split]).names:
            continue
        for batch in pq.ParquetFile(files[split]).iter_batches(batch_size=256, columns=["cid", IMAGE_COLUMN]):
            for cid, image in zip(batch.column("cid").to_pylist(), batch.column(IMAGE_COLUMN).to_pylist()):
                if cid not in seen and image and image.get("bytes"):
                    seen.add(cid)
                    yield split, cid, image["bytes"]


def _pixels(files: dict[str, Path], cids: list[str], size: int, cache: Path, key: str,
            rejects: RejectCollector) -> tuple[np.ndarray, dict[str, int], set[str]]:
    """One resized image per product, memory-mapped from the cache (row 0 blank: products without
    an image), each cid's row, and the cids whose image did not decode."""
    row_of = {cid: r + 1 for r, cid in enumerate(sorted(set(cids)))}
    path, listed = cache / f"pixels-{key}.npy", cache / f"pixels-{key}.status.json"
    if path.is_file() and listed.is_file():
        status = json.loads(listed.read_text(encoding="utf-8"))
        pixels = np.load(path, mmap_mode="r")
    else:
        status = {"with_image": [], "unreadable": {}}       # unreadable: cid -> [split, why]
        pixels = new_npy(path, (len(row_of) + 1, size, size, 3), np.uint8)
        for split, cid, data in _product_images(files):
            try:
                pixels[row_of[cid]] = resize_square(decode_rgb(data), size)
                status["with_image"].append(cid)
            except (OSError, ValueError) as exc:
                status["unreadable"][cid] = [split, str(exc)[:200] or type(exc).__name__]
        write_json(status, listed)
        pixels = finish_npy(pixels)
    for cid, (split, why) in status["unreadable"].items():
        rejects.add(split, cid, Reason.IMAGE_CORRUPT, why)
    with_image = set(status["with_image"])
    return pixels, {c: (r if c in with_image else 0) for c, r in row_of.items()}, set(status["unreadable"])


def load_slot_data(dataset: Path, image_size: int, cache: Path) -> SlotData:
    """The instances of the dataset folder ``dataset`` (a published MAVP build)."""
    schema = json.loads((dataset / "schema.json").read_text(encoding="utf-8"))
    text_slots, image_slots = slot_sets(schema)
    categories = {c["name"]: c for c in schema["categories"]}
    files = split_files(dataset)
    missing = [s for s in SPLITS if s not in files]
    if missing:
        raise FileNotFoundError(f"{dataset}: no split file for {missing}")
    columns = ["sid", "cid", "category", "text", *text_slots.names, *image_slots.names,
               *[f"{s}_reliability" for s in image_slots.names]]
    frame = pd.concat([_read_split(files[s], s, columns) for s in SPLITS], ignore_index=True)
    rejects = RejectCollector(SOURCE)
    bad = np.zeros(len(frame), bool)
    for i in np.flatnonzero(~frame["category"].isin(categories).to_numpy()):
        bad[i] = True
        rejects.add(frame["split"].iat[i], frame["sid"].iat[i], Reason.NO_CATEGORY, f"{frame['category'].iat[i]!r}")
    text_targets = _targets(frame, text_slots, "text_slots", categories, rejects, bad)
    image_targets = _targets(frame, image_slots, "image_slots", categories, rejects, bad)
    key = content_key("mujo_sf/data/v2", sorted(p.name for p in files.values()), image_size)
    pixels, row_of, unreadable = _pixels(files, frame["cid"].tolist(), image_size, cache, key, rejects)
    bad |= frame["cid"].isin(unreadable).to_numpy()
    pixel_row = frame["cid"].map(row_of).to_numpy(np.int64)
    reliability = np.stack([frame[f"{s}_reliability"].to_numpy(float) if f"{s}_reliability" in frame
                            else np.full(len(frame), np.nan) for s in image_slots.names], 1) \
        if len(image_slots) else np.zeros((len(frame), 0))
    keep = ~bad
    return SlotData(frame.loc[keep, ["sid", "cid", "category", "text", "split"]].reset_index(drop=True),
                    text_slots, image_slots, text_targets[keep], image_targets[keep], reliability[keep],
                    pixels, pixel_row[keep], rejects.frame(), key)


def true_image_targets(data: SlotData, truth: pd.DataFrame) -> np.ndarray:
    """(N, S_img) candidate index of the generator's true value of each image slot of each
    instance's category (IGNORE where the truth has none, or the category has no such slot)."""
    by_cid = truth.set_index("cid")
    out = np.full(data.image_targets.shape, IGNORE, np.int64)
    for j, (slot, candidates) in enumerate(zip(data.image_slots.names, data.image_slots.candidates)):
        if slot not in by_cid:
            continue
        index = {v: i for i, v in enumerate(candidates)}
        true = data.frame["cid"].map(by_cid[slot]).to_numpy(object)
        for i in np.flatnonzero(data.image_targets[:, j] != IGNORE):
            if isinstance(true[i], str) and true[i] in index:
                out[i, j] = index[true[i]]
    return out
