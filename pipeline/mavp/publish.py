"""Write the dataset directory atomically, as one build folder swapped in by a symlink.

``$MAVP_HOME/dataset`` is a symlink to ``$MAVP_HOME/datasets/<build key>/``. A build is written
in a temporary folder beside it, renamed into place whole, and only then does the link move
(``os.replace`` of a link is atomic), so a crash at any point leaves the previous dataset
whole and readable. The build key hashes the dataset's content: a rebuild with the same
inputs finds its folder already there and writes nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

from pipeline.io import content_key, write_json, write_parquet

DATA_FILE = "data/{split}-00000-of-00001.parquet"
KEEP_BUILDS = 2


@dataclass
class DatasetBuild:
    splits: Mapping[str, pd.DataFrame]
    images: Mapping[str, str]                 # path inside the dataset -> source file
    schema: dict
    card: str
    rejects: Mapping[str, pd.DataFrame]
    reports: Mapping[str, object]             # file name under reports/ -> dict (JSON) | str (text)
    charts: Mapping[str, Callable[[Path], None]] = field(default_factory=dict)   # PNG name -> writer

    def key(self) -> str:
        return content_key("dataset/v1", *[self.splits[s] for s in sorted(self.splits)], sorted(self.images.items()),
                           self.schema, self.card, sorted(self.rejects), *[self.rejects[k] for k in sorted(self.rejects)],
                           dict(self.reports))


def _write(build: DatasetBuild, folder: Path) -> None:
    for split, frame in build.splits.items():
        write_parquet(frame, folder / DATA_FILE.format(split=split))
    for rel, source in build.images.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)               # same file system: no copy
        except OSError:
            shutil.copyfile(source, target)
    write_json(build.schema, folder / "schema.json")
    (folder / "README.md").write_text(build.card, encoding="utf-8")
    for name, frame in build.rejects.items():
        write_parquet(frame, folder / "rejects" / f"{name}.parquet")
    for name, content in build.reports.items():
        path = folder / "reports" / name
        if isinstance(content, str):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        else:
            write_json(content, path)
    for name, draw in build.charts.items():
        (folder / "reports").mkdir(parents=True, exist_ok=True)
        draw(folder / "reports" / name)


def publish(build: DatasetBuild, home: Path) -> tuple[Path, bool]:
    """Write ``build`` (unless a build with its key exists) and point ``home/dataset`` at it.
    Returns the build folder and whether it was written now."""
    builds = home / "datasets"
    builds.mkdir(parents=True, exist_ok=True)
    final = builds / build.key()
    written = False
    if not final.is_dir():
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=builds))
        try:
            tmp.chmod(0o755)                      # mkdtemp makes 0700; readers of the dataset are others
            _write(build, tmp)
            os.replace(tmp, final)
            written = True
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    link = home / "dataset"
    if link.exists() and not link.is_symlink():     # a plain folder from elsewhere: keep it, aside
        os.replace(link, builds / f"previous-{os.getpid()}")
    tmp_link = home / f".dataset.{os.getpid()}.link"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(final.relative_to(home), target_is_directory=True)
    os.replace(tmp_link, link)
    _prune(builds, keep={final.name})
    return final, written


def _prune(builds: Path, keep: set[str]) -> None:
    """Keep the current build and the newest others up to KEEP_BUILDS; drop leftovers of crashes."""
    folders = sorted((p for p in builds.iterdir() if p.is_dir() and p.name not in keep),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in folders[KEEP_BUILDS - 1:] + [p for p in folders if p.name.startswith(".")]:
        shutil.rmtree(stale, ignore_errors=True)


def dataset_card(name: str, splits: Mapping[str, int], summary_md: str) -> str:
    """README.md whose YAML lets ``datasets.load_dataset(<dataset dir>)`` load the three splits."""
    files = "\n".join(f"  - split: {s}\n    path: {DATA_FILE.format(split=s).replace('00000-of-00001', '*')}"
                      for s in splits)
    return f"""---
pretty_name: {name}
language:
- zh
task_categories:
- token-classification
- image-classification
size_categories:
- n<1K
configs:
- config_name: default
  data_files:
{files}
---

# {name}

Multimodal attribute value prediction (MuJo-SF / MAVP): one row per product description
sentence (`sid`) of a product (`cid`) with its image, and the value of each of the 25 attribute
slots. Text-dependent slots come from the sentence's own annotation, image-dependent slots from
distant-supervision image classifiers; `<slot>_source` says which (`text`, `image`, `none`) and
`<slot>_confidence` gives the classifier's probability for image slots. Slots that do not apply
to a product's category, or that nobody filled, are `none`.

```python
import datasets
mavp = datasets.load_dataset("<this folder>")
```

Splits: {", ".join(f"{s} {n}" for s, n in splits.items())} instances.
`schema.json` lists the slots, vocabularies and the computed partition; `reports/quality.md`
tells how good the labels are; `rejects/` holds every input record that did not make it in.

{summary_md}
"""
