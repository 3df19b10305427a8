"""Region features of MEPAVE product images, with an on-disk cache.

One :class:`RegionConfig` chooses the extractor: ``grid`` (a backbone's feature-map cells, the
``sample`` default), ``faster_rcnn`` (torchvision detector, weights from a local file) or
``precomputed`` (MEPAVE's ``imgs.embedded*.npy`` keyed by cid). Extracted arrays are cached
as ``<cache>/<extractor key>/<image sha256>.npy``; the extractor key hashes the extractor's
config including a hash of its weights, so a rerun with nothing changed extracts nothing and
any change of image, weights or settings misses the cache.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from models.backbones import build_backbone, load_weights
from models.regions import FasterRCNNRegions, GridRegions, RegionExtractor
from pipeline.reasons import Reason
from pipeline.images import ImageRejected, load_rgb
from pipeline.io import atomic_path, content_key, file_sha256
from pipeline.progress import Progress
from pipeline.records import RejectCollector
from pipeline.saliency.config import RegionConfig
from pipeline.sources.features import read_features

SOURCE = "region_features"


@dataclass
class RegionTable:
    """Region features per cid, padded to a common l: features (N, l, d), mask (N, l)."""

    cids: list[str]
    features: np.ndarray
    mask: np.ndarray
    config: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.features.shape[-1])

    def rows(self, cids: Sequence[str]) -> np.ndarray:
        """Row index of each cid (KeyError for a cid with no features)."""
        where = {c: i for i, c in enumerate(self.cids)}
        return np.asarray([where[c] for c in cids], dtype=np.int64)

    def standardized(self) -> "RegionTable":
        """Every feature dimension at zero mean and unit variance over the table's real regions
        (no labels involved). Grid, detector and precomputed features come at very different
        scales; the fusion's projections start from the same footing this way."""
        real = self.features[self.mask]
        if len(real) == 0:
            return self
        mean, std = real.mean(axis=0), real.std(axis=0) + 1e-5
        feats = np.where(self.mask[..., None], (self.features - mean) / std, 0.0).astype(np.float32)
        return RegionTable(self.cids, feats, self.mask, self.config, self.stats)

    def save(self, path: Path | str) -> Path:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, cids=np.asarray(self.cids, dtype=object).astype(str), features=self.features,
                         mask=self.mask, config=json.dumps(self.config), stats=json.dumps(self.stats))
        return Path(path)

    @classmethod
    def load(cls, path: Path | str) -> "RegionTable":
        with np.load(path, allow_pickle=False) as z:
            return cls([str(c) for c in z["cids"]], z["features"], z["mask"],
                       json.loads(str(z["config"])), json.loads(str(z["stats"])))


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
                   workers: int = 4) -> tuple[RegionTable, pd.DataFrame]:
    """Region features of every ``images`` row (``cid``, ``image_path``), through the cache.

    Returns the table and rejects (an image that fails to load now is rejected, not fatal).
    """
    rejects = RejectCollector(SOURCE)
    key = content_key(extractor.config())
    folder = Path(cache_dir) / key
    paths = images["image_path"].tolist()
    with ThreadPoolExecutor(workers) as pool:
        hashes = list(pool.map(file_sha256, paths))
    arrays: dict[int, np.ndarray] = {}
    todo: list[int] = []
    for i, h in enumerate(hashes):
        cached = folder / f"{h}.npy"
        if cached.is_file():
            arrays[i] = np.load(cached)
        else:
            todo.append(i)
    t0 = time.perf_counter()
    extracted = 0
    with Progress(f"extracting region features ({extractor.config()['kind']})", len(todo), "image") as progress:
        for start in range(0, len(todo), 32):
            chunk, pixels = [], []
            for i in todo[start:start + 32]:
                try:
                    pixels.append(load_rgb(paths[i]))
                    chunk.append(i)
                except ImageRejected as exc:
                    rejects.add(paths[i], images["cid"].iloc[i], exc.check.reason, exc.check.detail)
            for i, arr in zip(chunk, extractor.extract(pixels) if pixels else []):
                _save_array(folder / f"{hashes[i]}.npy", arr)
                arrays[i] = arr
                extracted += 1
            progress.update(len(todo[start:start + 32]))
    seconds = time.perf_counter() - t0
    keep = sorted(arrays)
    feats, mask = pad_regions([arrays[i] for i in keep])
    stats = {"images": len(paths), "cache_hits": len(paths) - len(todo), "extracted": extracted,
             "extract_seconds": round(seconds, 3),
             "seconds_per_image": round(seconds / extracted, 5) if extracted else None,
             "regions": int(feats.shape[1]), "dim": int(feats.shape[2]), "cache_key": key}
    table = RegionTable([images["cid"].iloc[i] for i in keep], feats, mask, extractor.config(), stats)
    return table, rejects.frame()


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


def region_features(images: pd.DataFrame, config: RegionConfig, cache_dir: Path | str) -> tuple[RegionTable, pd.DataFrame]:
    """The configured extractor's features for every image row."""
    if config.kind == "precomputed":
        return read_precomputed(config, images["cid"].tolist())
    table, rejects = extract_cached(images, build_extractor(config), cache_dir)
    table.config = {**table.config, **{k: v for k, v in asdict(config).items() if v is not None}}
    return table, rejects
