"""Region features of MEPAVE product images, with an on-disk cache.

One :class:`RegionConfig` chooses the extractor: ``grid`` (a backbone's feature-map cells, the
``sample`` default), ``faster_rcnn`` (torchvision detector, weights from a local file) or
``precomputed`` (MEPAVE's ``imgs.embedded*.npy`` keyed by cid). Extracted arrays are cached
as ``<cache>/<extractor key>/<image sha256>.npy``; the extractor key hashes the extractor's
config including a hash of its weights, so a rerun with nothing changed extracts nothing and
any change of image, weights or settings misses the cache.
"""

from __future__ import annotations

import dataclasses
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from models.backbones import build_backbone, load_weights
from models.regions import FasterRCNNRegions, GridRegions, RegionExtractor
from pipeline.reasons import Reason
from pipeline.images import ImageRejected, load_rgb
from pipeline.io import atomic_path, content_key, file_sha256, finish_npy, new_npy
from pipeline.progress import Progress
from pipeline.records import RejectCollector
from pipeline.saliency.config import RegionConfig
from pipeline.sources.features import read_features

SOURCE = "region_features"


@dataclass
class RegionTable:
    """Region features per cid, padded to a common l: features (N, l, d), mask (N, l).

    ``features`` may be a read-only memory map (:meth:`load`): at the paper's scale it is many
    GB, and the predictors read it a batch of rows at a time (:meth:`gather`). ``shift`` and
    ``scale`` (from :meth:`standardized`) are applied to the rows gathered, never to a copy of
    the whole array."""

    cids: list[str]
    features: np.ndarray
    mask: np.ndarray
    config: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    shift: np.ndarray | None = None
    scale: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.features.shape[-1])

    def rows(self, cids: Sequence[str]) -> np.ndarray:
        """Row index of each cid (KeyError for a cid with no features)."""
        where = {c: i for i, c in enumerate(self.cids)}
        return np.asarray([where[c] for c in cids], dtype=np.int64)

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, mask) of ``rows``, standardized when the table is; padding stays zero."""
        feats, mask = np.asarray(self.features[rows], dtype=np.float32), self.mask[rows]
        if self.shift is not None:
            feats = np.where(mask[..., None], (feats - self.shift) / self.scale, 0.0).astype(np.float32)
        return feats, mask

    def standardized(self, chunk: int = 2048) -> "RegionTable":
        """Every feature dimension at zero mean and unit variance over the table's real regions
        (no labels involved). Grid, detector and precomputed features come at very different
        scales; the fusion's projections start from the same footing this way. The moments are
        summed a chunk of rows at a time (float64), so the table is never copied whole."""
        count, total, squares = 0, np.zeros(self.dim), np.zeros(self.dim)
        for start in range(0, len(self.cids), chunk):
            real = np.asarray(self.features[start:start + chunk], dtype=np.float64)[self.mask[start:start + chunk]]
            count, total, squares = count + len(real), total + real.sum(axis=0), squares + (real ** 2).sum(axis=0)
        if count == 0:
            return self
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0)) + 1e-5
        return dataclasses.replace(self, shift=mean.astype(np.float32), scale=std.astype(np.float32))

    @classmethod
    def merge(cls, parts: Sequence["RegionTable"], order: Sequence[str], out: Path | str | None = None) -> "RegionTable":
        """The tables of disjoint sets of images (the shards of one extraction) as one, rows in
        ``order`` (the image list one extraction over all of them was given); counts summed.
        With ``out`` the features go to that ``.npy`` file, memory-mapped, a row at a time."""
        where = {c: (p, i) for p, part in enumerate(parts) for i, c in enumerate(part.cids)}
        kept = [c for c in order if c in where]
        length = max([int(part.mask[i].sum()) for part in parts for i in range(len(part.cids))], default=1)
        dim = max([part.dim for part in parts], default=1)
        feats = new_npy(out, (len(kept), length, dim))
        mask = np.zeros((len(kept), length), bool)
        for row, cid in enumerate(kept):
            p, i = where[cid]
            n = int(parts[p].mask[i].sum())
            feats[row, :n], mask[row, :n] = parts[p].features[i][parts[p].mask[i]], True
        stats = {k: sum(p.stats.get(k) or 0 for p in parts) for k in ("images", "cache_hits", "extracted")}
        return cls(kept, finish_npy(feats), mask, parts[0].config if parts else {},
                   {**(parts[0].stats if parts else {}), **stats, "shards": len(parts)})

    def save(self, path: Path | str) -> Path:
        """``path`` (an ``.npz`` of cids, mask, config and stats) and the features beside it as
        an ``.npy`` (:func:`features_file`) that :meth:`load` memory-maps."""
        path = Path(path)
        target = features_file(path)
        if not (isinstance(self.features, np.memmap) and Path(self.features.filename).resolve() == target.resolve()):
            _save_array(target, self.features)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, cids=np.asarray(self.cids, dtype=object).astype(str), mask=self.mask,
                         config=json.dumps(self.config), stats=json.dumps(self.stats))
        return path

    @classmethod
    def load(cls, path: Path | str) -> "RegionTable":
        with np.load(path, allow_pickle=False) as z:
            # tables saved before the features moved beside the .npz hold them inside
            features = z["features"] if "features" in z.files else np.load(features_file(path), mmap_mode="r")
            return cls([str(c) for c in z["cids"]], features, z["mask"], json.loads(str(z["config"])),
                       json.loads(str(z["stats"])))


def features_file(path: Path | str) -> Path:
    """The ``.npy`` of a saved table's features, beside its ``.npz``."""
    return Path(path).with_suffix(".features.npy")


def build_extractor(config: RegionConfig) -> RegionExtractor:
    weights_id = file_sha256(config.weights)[:16] if config.weights else "random"
    if config.kind == "grid":
        backbone = build_backbone(config.backbone, multiscale=config.multiscale)
        if config.weights:
            load_weights(backbone, config.weights)
        return GridRegions(backbone, image_size=config.image_size, batch_size=config.batch_size,
                           weights_id=weights_id)
    if config.kind == "faster_rcnn":
        return FasterRCNNRegions(config.detector, config.weights, top_l=config.top_l, min_size=config.min_size,
                                 max_size=config.max_size, weights_id=weights_id)
    raise ValueError(f"{config.kind!r} features are read, not extracted")


def pad_regions(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack (l_i, d) arrays into (N, max l, d) with a validity mask."""
    if not arrays:
        return np.zeros((0, 1, 1), np.float32), np.zeros((0, 1), bool)
    l_max = max(a.shape[0] for a in arrays)
    d = arrays[0].shape[1]
    feats = np.zeros((len(arrays), l_max, d), np.float32)
    mask = np.zeros((len(arrays), l_max), bool)
    for i, a in enumerate(arrays):
        feats[i, : a.shape[0]] = a
        mask[i, : a.shape[0]] = True
    return feats, mask


def _save_array(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def extract_cached(images: pd.DataFrame, extractor: RegionExtractor, cache_dir: Path | str,
                   workers: int = 4, out: Path | str | None = None,
                   reduce: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[RegionTable, pd.DataFrame]:
    """Region features of every ``images`` row (``cid``, ``image_path``), through the cache.

    Returns the table and rejects (an image that fails to load now is rejected, not fatal).
    Images are extracted into the cache first, then the table is filled from it a chunk at a
    time, so no more than a chunk of arrays is ever held besides the table: with ``out`` the
    table's features are an ``.npy`` there, memory-mapped; with ``reduce`` (a map from a chunk's
    (n, l, d) stack to (n, dim) rows, e.g. pooling) each image becomes one row of ``dim``.
    """
    rejects = RejectCollector(SOURCE)
    key = content_key(extractor.config())
    folder = Path(cache_dir) / key
    paths = images["image_path"].tolist()
    with ThreadPoolExecutor(workers) as pool:
        hashes = list(pool.map(file_sha256, paths))
    cached = [folder / f"{h}.npy" for h in hashes]
    todo = [i for i, c in enumerate(cached) if not c.is_file()]
    t0 = time.perf_counter()
    failed: set[int] = set()
    with Progress(f"extracting region features ({extractor.config()['kind']})", len(todo), "image") as progress:
        for start in range(0, len(todo), 32):
            chunk, pixels = [], []
            for i in todo[start:start + 32]:
                try:
                    pixels.append(load_rgb(paths[i]))
                    chunk.append(i)
                except ImageRejected as exc:
                    failed.add(i)
                    rejects.add(paths[i], images["cid"].iloc[i], exc.check.reason, exc.check.detail)
            for i, arr in zip(chunk, extractor.extract(pixels) if pixels else []):
                _save_array(cached[i], arr)
            progress.update(len(todo[start:start + 32]))
    seconds = time.perf_counter() - t0
    keep = [i for i in range(len(paths)) if i not in failed]
    feats, mask = _assemble([cached[i] for i in keep], out, reduce)
    extracted = len(todo) - len(failed)
    stats = {"images": len(paths), "cache_hits": len(paths) - len(todo), "extracted": extracted,
             "extract_seconds": round(seconds, 3),
             "seconds_per_image": round(seconds / extracted, 5) if extracted else None,
             "regions": int(feats.shape[1]), "dim": int(feats.shape[2]), "cache_key": key}
    table = RegionTable([images["cid"].iloc[i] for i in keep], feats, mask, extractor.config(), stats)
    return table, rejects.frame()


def _assemble(files: Sequence[Path], out: Path | str | None, reduce: Callable[[np.ndarray], np.ndarray] | None,
              chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, l, d), mask (N, l)) of cached arrays, read a chunk of files at a time."""
    if not files:
        return np.zeros((0, 1, 1), np.float32), np.zeros((0, 1), bool)
    shapes = [np.load(f, mmap_mode="r").shape for f in files]          # reads the headers only
    length = max(shape[0] for shape in shapes)
    feats = mask = None
    for start in range(0, len(files), chunk):
        part, part_mask = pad_regions([np.load(f) for f in files[start:start + chunk]])
        if part.shape[1] < length:
            part = np.pad(part, ((0, 0), (0, length - part.shape[1]), (0, 0)))
            part_mask = np.pad(part_mask, ((0, 0), (0, length - part_mask.shape[1])))
        if reduce is not None:
            part, part_mask = reduce(part)[:, None, :], np.ones((len(part), 1), bool)
        if feats is None:
            feats = new_npy(out, (len(files), *part.shape[1:]))
            mask = np.zeros((len(files), part.shape[1]), bool)
        feats[start:start + len(part)], mask[start:start + len(part)] = part, part_mask
    return finish_npy(feats), mask


def read_precomputed(config: RegionConfig, cids: Sequence[str]) -> tuple[RegionTable, pd.DataFrame]:
    """Precomputed global features (l = 1) for the cids that have them."""
    if not config.precomputed_dir:
        raise ValueError("kind 'precomputed' needs precomputed_dir")
    fs = read_features(config.precomputed_dir, config.precomputed_array)
    have = set(fs.result.valid["cid"])
    rejects = RejectCollector(SOURCE)
    keep = [c for c in cids if c in have]
    for c in cids:
        if c not in have:
            rejects.add(str(config.precomputed_dir), c, Reason.NO_PRECOMPUTED_FEATURES,
                        "cid missing from cids_of_imgs (or its row was rejected)")
    array = fs.features_for(keep).astype(np.float32) if keep else np.zeros((0, 1), np.float32)
    feats = array[:, None, :]
    mask = np.ones(feats.shape[:2], bool)
    stats = {"images": len(cids), "cache_hits": 0, "extracted": 0, "regions": 1,
             "dim": int(feats.shape[-1]), "feature_rejects": int(len(fs.result.rejects))}
    config_dict = {"kind": "precomputed", "array": config.precomputed_array}
    frame = pd.concat([rejects.frame(), fs.result.rejects], ignore_index=True)
    return RegionTable(list(keep), feats, mask, config_dict, stats), frame


def region_features(images: pd.DataFrame, config: RegionConfig, cache_dir: Path | str,
                    out: Path | str | None = None) -> tuple[RegionTable, pd.DataFrame]:
    """The configured extractor's features for every image row (with ``out``: memory-mapped
    there, the :func:`features_file` of the table's path)."""
    if config.kind == "precomputed":
        return read_precomputed(config, images["cid"].tolist())
    table, rejects = extract_cached(images, build_extractor(config), cache_dir, out=out)
    table.config = {**table.config, **{k: v for k, v in asdict(config).items() if v is not None}}
    return table, rejects
