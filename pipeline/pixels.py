"""Decoded, resized pixels of a set of images, made once per (contents, size) and kept on disk.

Training reads batches by indexing one uint8 array, so the loop has no per-image Python work
(no decoding, no resizing, no PIL). The array is written once as ``<cache>/<key>.npy`` and opened
memory-mapped, so a source far larger than memory still works and a rerun decodes nothing. The
key hashes every file's bytes and the size: any changed image, or another size, makes a new
array. Decoding runs in worker processes (each decodes and resizes a chunk of files); its
progress is counted per chunk (:mod:`pipeline.progress`).
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from pipeline.images import ImageRejected, load_rgb
from pipeline.io import atomic_path, content_key, file_sha256, write_json
from pipeline.progress import track
from pipeline.records import RejectCollector


@dataclass
class DecodedImages:
    """Pixels (N, size, size, 3) uint8 for ``paths[kept[i]]`` at row i; rejects for the rest."""

    paths: list[str]
    pixels: np.ndarray
    kept: list[int]
    rejects: pd.DataFrame
    key: str
    reused: bool

    def row_of_path(self) -> dict[str, int]:
        return {self.paths[i]: row for row, i in enumerate(self.kept)}


def _decode_chunk(paths: Sequence[str], size: int) -> list[tuple[np.ndarray | None, str, str]]:
    from models.backbones import resize_square    # torch-side module: imported when decoding, not on load

    out = []
    for path in paths:
        try:
            out.append((resize_square(load_rgb(path), size), "", ""))
        except ImageRejected as exc:
            out.append((None, exc.check.reason, exc.check.detail))
    return out


def _digests(paths: Sequence[str], workers: int) -> list[str]:
    def one(path: str) -> str:
        try:
            return file_sha256(path)
        except OSError:
            return "unreadable"           # decoding reports why; the key still changes when it appears
    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(pool.map(one, paths))


def decode_images(paths: Sequence[str], size: int, cache_dir: Path | str | None = None, workers: int = 2,
                  source: str = "pixels", chunk: int = 64) -> DecodedImages:
    """Decode and resize each distinct path once (``paths`` should hold no repeats).

    With ``cache_dir`` the result is cached under a key of the files' contents and ``size``;
    without it everything is decoded in memory.
    """
    paths = [str(p) for p in paths]
    key = content_key("pixels/v1", size, _digests(paths, workers))
    array_path = meta_path = None
    if cache_dir is not None:
        array_path = Path(cache_dir) / f"{key}.npy"
        meta_path = Path(cache_dir) / f"{key}.json"
        if array_path.is_file() and meta_path.is_file():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            rejects = pd.DataFrame(meta["rejects"]).astype("string") if meta["rejects"] else RejectCollector(source).frame()
            return DecodedImages(paths, np.load(array_path, mmap_mode="r"), meta["kept"], rejects, key, True)

    chunks = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    parallel = workers > 1 and len(chunks) > 1
    with ProcessPoolExecutor(workers) if parallel else nullcontext() as pool:
        parts = (pool.map if parallel else map)(_decode_chunk, chunks, [size] * len(chunks))
        decoded = [item for part in track(parts, f"decoding images ({source}, {size} px)", len(paths), "image",
                                          count=len) for item in part]
    rejects = RejectCollector(source)
    kept = []
    for i, (image, reason, detail) in enumerate(decoded):
        if image is None:
            rejects.add(paths[i], "", reason, detail)
        else:
            kept.append(i)
    pixels = np.stack([decoded[i][0] for i in kept]) if kept else np.zeros((0, size, size, 3), np.uint8)
    if array_path is not None:
        with atomic_path(array_path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, pixels)
        write_json({"size": size, "kept": kept, "rejects": rejects.frame().to_dict("records")}, meta_path)
        pixels = np.load(array_path, mmap_mode="r")
    return DecodedImages(paths, pixels, kept, rejects.frame(), key, False)
