"""How results look in the Dagster UI: tables as table metadata, column schemas, figures shown
inline, paths relative to the home, and code versions that follow the code."""

from __future__ import annotations

import hashlib
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from pipeline.home import HomeLayout
from pipeline.io import atomic_path, file_sha256
from pipeline.mavp.build import json_safe

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Who answers for the assets (shown on every asset page).
OWNERS = ["team:mavp"]
_TYPES = {"i": "int", "u": "int", "f": "float", "b": "bool"}


def _cell(value):
    value = json_safe(value)
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def table(frame: pd.DataFrame, descriptions: Mapping[str, str] | None = None,
          max_rows: int = 200) -> dg.TableMetadataValue:
    """``frame`` as a table the asset page shows inline, with a typed schema."""
    descriptions = descriptions or {}
    columns = [dg.TableColumn(name=str(c), type=_TYPES.get(frame[c].dtype.kind, "string"),
                              description=descriptions.get(str(c))) for c in frame.columns]
    records = [dg.TableRecord({str(c): _cell(v) for c, v in row.items()})
               for row in frame.head(max_rows).to_dict("records")]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def percent(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``columns`` (shares 0-1) as percentages with one decimal, for narrow page tables."""
    return frame.assign(**{c: (pd.to_numeric(frame[c], errors="coerce") * 100).round(1) for c in columns})


def column_schema(path: Path, descriptions: Mapping[str, str] | None = None) -> dg.TableSchema:
    """The ``dagster/column_schema`` of a parquet file, from its own Arrow schema."""
    descriptions = descriptions or {}
    return dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=str(f.type), description=descriptions.get(f.name))
                                   for f in pq.read_schema(path)])


def table_file_metadata(layout: HomeLayout, path: Path, rows: int,
                        descriptions: Mapping[str, str] | None = None) -> dict:
    """Row count, column schema and the home-relative path of a table the asset wrote."""
    return {"dagster/row_count": rows, "dagster/column_schema": column_schema(path, descriptions),
            "path": home_path(layout, path)}


def home_path(layout: HomeLayout, path: str | Path) -> dg.PathMetadataValue:
    return dg.MetadataValue.path(layout.relative(path))


def publish_figure(layout: HomeLayout, png: Path) -> str:
    """The URL under which the Dagster webserver serves ``png``. The UI draws markdown inline only
    when it is short, so figures go by URL, not embedded: the PNG is copied, named by its content
    hash, into the compute-log folder, which the webserver serves at ``/logs/<path>/<extension>``.
    Each materialization keeps showing its own figure."""
    target = layout.dagster_logs / "figures" / f"{png.stem}-{file_sha256(png)[:12]}.png"
    if not target.is_file():
        with atomic_path(target) as tmp:
            shutil.copyfile(png, tmp)
    return f"/logs/figures/{target.stem}/png"


def inline_figure(layout: HomeLayout, png: Path, alt: str) -> dg.MarkdownMetadataValue:
    """A PNG shown on the asset page itself."""
    return dg.MetadataValue.md(f"![{alt}]({publish_figure(layout, png)})")


@lru_cache(maxsize=None)
def code_version(*parts: str) -> str:
    """Hash of the source files (``.py``, ``.yaml``, ``.csv``) under ``parts`` (paths relative to
    the repo root): any edit there marks the assets built from them stale in the UI."""
    digest = hashlib.sha256()
    for part in parts:
        root = REPO_ROOT / part
        files = sorted(p for p in (root.rglob("*") if root.is_dir() else [root])
                       if p.suffix in (".py", ".yaml", ".csv") and "__pycache__" not in p.parts)
        for path in files:
            digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]
