"""One entry point per source kind, so the CLI and the Dagster assets read sources alike."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from pipeline.records import ReadResult
from pipeline.sources.crawl import read_crawl
from pipeline.sources.fashionai import read_fashionai
from pipeline.sources.ifashion import read_ifashion
from pipeline.sources.mepave import read_mepave
from pipeline.sources.utzap50k import read_utzap50k

READERS: dict[str, Callable[[Path], ReadResult]] = {
    "mepave": read_mepave,
    "fashionai": read_fashionai,
    "utzap50k": read_utzap50k,
    "ifashion": read_ifashion,
    "crawl": read_crawl,
}
SOURCE_KINDS = tuple(READERS)


def read_source(kind: str, path: Path | str) -> ReadResult:
    if kind not in READERS:
        raise ValueError(f"unknown source kind {kind!r}; expected one of {SOURCE_KINDS}")
    return READERS[kind](Path(path))
