"""Stable hash shards of record ids: how the data-parallel steps (the iMaterialist fetch, MEPAVE
image decoding, MEPAVE labelling) split their work into Dagster partitions.

A record's shard depends on its id alone (BLAKE2b of the UTF-8 id, modulo the count): the same
on every machine, Python version and run (Python's own ``hash`` is salted per process), and
independent of which other records exist, so adding records never moves the old ones.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np


def shard_of(record_id: object, count: int) -> int:
    """The shard (0 .. count-1) of one id."""
    if count < 1:
        raise ValueError(f"shard count must be at least 1, got {count}")
    digest = hashlib.blake2b(str(record_id).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def shard_mask(record_ids: Iterable[object], shard: int, count: int) -> np.ndarray:
    """Boolean mask of the ids that fall in ``shard`` (all of them when ``count`` is 1)."""
    ids = list(record_ids)
    if count == 1:
        return np.ones(len(ids), bool)
    return np.fromiter((shard_of(i, count) == shard for i in ids), bool, len(ids))


def shard_keys(count: int) -> list[str]:
    """Dagster partition keys of ``count`` shards: zero-padded so that they sort as numbers."""
    width = max(3, len(str(count - 1)))
    return [f"{i:0{width}d}" for i in range(count)]
