"""Dagster partitions of the data-parallel steps: the iMaterialist fetch, MEPAVE image decoding
(region features) and MEPAVE labelling (each image scored by the chosen classifiers).

With ``shards: N`` in the profile each of them is a static-partitioned asset of N hash shards of
its ids (:mod:`pipeline.shards`): a backfill runs one run per shard, spread by the run launcher
and by any executor (``MAVP_EXECUTOR=dask``), and every partition writes its own part file. The
assets downstream are unpartitioned and read every part (all partitions must be materialized).
With ``shards: 0`` (both shipped profiles) they are ordinary assets that do all ids in one step,
so ``dagster asset materialize --select '*mavp'`` needs no partition.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.profiles import active_profile
from pipeline.shards import shard_keys

SHARD_COUNT = active_profile().shards
SHARDS = dg.StaticPartitionsDefinition(shard_keys(SHARD_COUNT)) if SHARD_COUNT else None


def step_shard(context: dg.AssetExecutionContext) -> tuple[int, int, str | None]:
    """(shard, shard count, partition key) this step computes; (0, 1, None) when unpartitioned."""
    if SHARDS is None:
        return 0, 1, None
    key = context.partition_key
    return int(key), SHARD_COUNT, key


def part_file(path: Path, key: str | None) -> Path:
    """Where one partition writes its part of ``path`` (``name.<key>-of-<count>.ext``, so that
    parts of another shard count are never read as this one's); no key: ``path`` itself."""
    return path if key is None else path.with_name(f"{path.stem}.{key}-of-{SHARD_COUNT}{path.suffix}")


def part_files(path: Path) -> list[Path]:
    """Every partition's part of ``path``, in shard order; raises when one is missing."""
    if SHARDS is None:
        return [path]
    parts = [part_file(path, key) for key in SHARDS.get_partition_keys()]
    missing = [key for key, p in zip(SHARDS.get_partition_keys(), parts) if not p.is_file()]
    if missing:
        raise dg.Failure(f"{path.stem}: partition(s) {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''} "
                         f"of {SHARD_COUNT} not materialized yet; materialize every partition first")
    return parts


def read_parts(path: Path) -> pd.DataFrame:
    """A table written whole at ``path``, or by every partition of a sharded step."""
    if SHARDS is not None and any(part_file(path, k).is_file() for k in SHARDS.get_partition_keys()):
        return pd.concat([pd.read_parquet(p) for p in part_files(path)], ignore_index=True)
    return pd.read_parquet(path)
