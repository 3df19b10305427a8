"""Atomic file writes: write to a temporary name beside the target, then rename."""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto the target on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)          # mkstemp makes 0600; the target gets the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet(df: pd.DataFrame, target: Path | str) -> Path:
    with atomic_path(target) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(target)


def write_json(data: Any, target: Path | str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n",
                       encoding="utf-8")
    return Path(target)


def write_text(text: str, target: Path | str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def file_sha256(path: Path | str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (content keys for caches)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def content_key(*parts: object) -> str:
    """Short SHA-256 key of values (JSON), DataFrames (their rows) and arrays (their bytes):
    the folder name under which a step caches what it computed from exactly these inputs."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, pd.DataFrame):
            digest.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
        elif isinstance(part, np.ndarray):
            # a row block at a time: a memory-mapped array of many GB is never copied whole
            step = max(1, (64 << 20) // max(1, part[:1].nbytes)) if part.ndim else 1
            for start in range(0, max(1, len(part)) if part.ndim else 1, step):
                digest.update(np.ascontiguousarray(part[start:start + step] if part.ndim else part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def new_npy(out: Path | str | None, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """A zeroed array to fill: in memory, or with ``out`` a new ``.npy`` there, memory-mapped for
    writing under a temporary name (:func:`finish_npy` puts it in place), so an array larger
    than memory can be written a block at a time."""
    if out is None:
        return np.zeros(shape, dtype)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return np.lib.format.open_memmap(f"{out}.partial", mode="w+", dtype=dtype, shape=shape)


def finish_npy(array: np.ndarray) -> np.ndarray:
    """An array from :func:`new_npy`: a memory-mapped one flushed, renamed into place and
    reopened read-only; an in-memory one as it is."""
    if not isinstance(array, np.memmap):
        return array
    array.flush()
    partial = Path(array.filename)
    final = partial.with_name(partial.name.removesuffix(".partial"))
    del array
    partial.replace(final)
    return np.load(final, mmap_mode="r")


def release_pages(array: np.ndarray) -> None:
    """Drop the resident pages of a read-only memory map from this process (they stay in the
    page cache, and are read again from there if used): a step that reads GB-sized maps one
    after another then holds one at a time. A no-op for arrays in memory."""
    mapped = getattr(array, "_mmap", None)
    if mapped is not None and hasattr(mmap, "MADV_DONTNEED"):
        mapped.madvise(mmap.MADV_DONTNEED)
