"""The one list of sources: every asset, check, resource field and CLI choice loops over it.

In the spirit of timm's model registry: an entry names a source kind and everything the rest
of the project needs to know about it. Adding a source is a reader module, one
:func:`register` call below, its rows in ``pipeline/config/value_maps.csv`` and, if it has
one, its synthetic twin in ``pipeline/synth``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from pipeline.distant.config import (ClassifierConfig, CrawlTraining, FashionAITraining, IFashionTraining,
                                     UTZap50kTraining)
from pipeline.reasons import Reason
from pipeline.records import ReadResult, RejectCollector
from pipeline.sources.crawl import read_crawl
from pipeline.sources.fashionai import read_fashionai
from pipeline.sources.ifashion import read_ifashion
from pipeline.sources.mepave import read_mepave, spans_table
from pipeline.sources.utzap50k import read_utzap50k


@dataclass(frozen=True)
class SourceSpec:
    """One source kind.

    ``reader(root, follow_links_outside=...)`` reads its folder. A ``vision`` source trains
    distant-supervision classifiers: ``training`` is its settings class and ``plan`` the
    ``module:function`` that trains them (imported only where training runs: torch),
    ``paper_table`` the paper's table it reproduces. ``fetched_images``: its images are fetched
    from URLs before it is read. ``dump``: the table ``check-source --dump`` writes.
    ``expects``: what its folder holds (glob patterns, one must match), checked before a build.
    """

    kind: str
    reader: Callable[..., ReadResult]
    description: str
    vision: bool = False
    paper_table: str = ""
    training: type[ClassifierConfig] | None = None
    plan: str = ""
    fetched_images: bool = False
    dump: Callable[[ReadResult], pd.DataFrame] | None = None
    expects: tuple[str, ...] = ()       # glob patterns; a folder holding none of them is not this source

    @property
    def table(self) -> str:
        """Name of its parsed table (and of its asset) under the home."""
        return f"{self.kind}_records"

    def training_plan(self) -> Callable:
        """The function that trains its classifiers: ``plan(data, folder, config) -> models``."""
        module, name = self.plan.split(":")
        return getattr(importlib.import_module(module), name)

    def read(self, root: str | os.PathLike, follow_links_outside: bool = False) -> ReadResult:
        """Its reader on ``root``; a reader bug is a ``reader_failed`` reject, never a traceback."""
        try:
            return self.reader(Path(root), follow_links_outside=follow_links_outside)
        except Exception as exc:    # the last line of defence; every known fault has its own reason
            rejects = RejectCollector(self.kind, root)
            rejects.add(root, "", Reason.READER_FAILED, f"{type(exc).__name__}: {exc} (a bug: please report it)")
            return ReadResult(self.kind, pd.DataFrame(), rejects.frame(), {})


SOURCES: dict[str, SourceSpec] = {}


def register(spec: SourceSpec) -> SourceSpec:
    if spec.kind in SOURCES:
        raise ValueError(f"source kind {spec.kind!r} is registered twice")
    if spec.vision and (spec.training is None or not spec.plan or not spec.paper_table):
        raise ValueError(f"vision source {spec.kind!r} needs training, plan and paper_table")
    SOURCES[spec.kind] = spec
    return spec


def source(kind: str) -> SourceSpec:
    if kind not in SOURCES:
        raise ValueError(f"unknown source kind {kind!r}; expected one of {tuple(SOURCES)}")
    return SOURCES[kind]


def vision_sources() -> list[SourceSpec]:
    return [s for s in SOURCES.values() if s.vision]


def read_source(kind: str, path: Path | str, follow_links_outside: bool = False) -> ReadResult:
    return source(kind).read(path, follow_links_outside)


PLANS = "pipeline.distant.strategies"
register(SourceSpec("mepave", read_mepave, "MEPAVE sentences with their value spans and product category.",
                    dump=spans_table, expects=("jdai.jave.*", "jdair.jave.*")))
register(SourceSpec("fashionai", read_fashionai, "FashionAI attribute labels (one row per image and task).",
                    vision=True, paper_table="Table I (FashionAI)", training=FashionAITraining,
                    plan=f"{PLANS}:plan_fashionai", expects=("Annotations/label.csv",)))
register(SourceSpec("utzap50k", read_utzap50k, "UT-ZAP50K shoe attributes (one row per CID and task).",
                    vision=True, paper_table="Table II (UT-ZAP50K)", training=UTZap50kTraining,
                    plan=f"{PLANS}:plan_utzap50k", expects=("ut-zap50k-data/meta-data.csv",)))
register(SourceSpec("ifashion", read_ifashion, "iMaterialist-2018 labels per image and label group.",
                    vision=True, paper_table="Table III (iFashion)", training=IFashionTraining,
                    plan=f"{PLANS}:plan_ifashion", fetched_images=True, expects=("train.json", "validation.json")))
register(SourceSpec("crawl", read_crawl, "Crawled images labelled by their folder.",
                    vision=True, paper_table="Table IV (crawled images)", training=CrawlTraining,
                    plan=f"{PLANS}:plan_crawl", expects=("*/*/*",)))
SOURCE_KINDS = tuple(SOURCES)
#: Folders a profile points at: every source's, plus MEPAVE's product images.
FOLDER_KINDS = (*SOURCE_KINDS, "mepave_images")
