"""Write the dataset directory atomically, as one build folder swapped in by a symlink.

``$MAVP_HOME/dataset`` is a symlink to ``$MAVP_HOME/datasets/<build key>/``. A build is written
in a temporary folder beside it, renamed into place whole, and only then does the link move
(``os.replace`` of a link is atomic), so a crash at any point leaves the previous dataset
whole and readable. The build key hashes the dataset's content: a rebuild with the same
inputs finds its folder already there and writes nothing.

The split files are named by a key of their rows and image bytes, and the card's ``configs``
name them: ``datasets`` caches a local folder under a hash of its card, so a build whose rows
differ gets another card, hence another cache entry, and is never served an earlier build's
rows. Each image is embedded in its row (``datasets``' ``Image`` storage: bytes and file name),
so ``datasets.load_dataset(<dataset dir>)`` decodes it from any working directory.
"""

from __future__ import annotations

import json
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from pipeline.io import atomic_path, content_key, file_sha256, write_json, write_parquet

DATA_FILE = "data/{split}-00000-of-00001-{key}.parquet"
KEEP_BUILDS = 2
IMAGE_COLUMN = "image"
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])   # datasets.Image's Arrow storage
ROW_GROUP = 256
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))


@dataclass
class DatasetBuild:
    name: str
    summary_md: str                           # the card's body after its title
    splits: Mapping[str, pd.DataFrame]        # the image column holds file names, keys of ``images``
    images: Mapping[str, str]                 # file name -> source file, embedded in the rows
    schema: dict
    rejects: Mapping[str, pd.DataFrame]
    reports: Mapping[str, object]             # file name under reports/ -> dict (JSON) | str (text)
    charts: Mapping[str, bytes] = field(default_factory=dict)   # PNG name under reports/ -> its bytes

    @cached_property
    def data_key(self) -> str:
        """Key of the rows and image bytes: it names the split files."""
        used = sorted({n for f in self.splits.values() if IMAGE_COLUMN in f for n in f[IMAGE_COLUMN].dropna()})
        return content_key("data/v2", *[self.splits[s] for s in sorted(self.splits)],
                           [(n, file_sha256(self.images[n])) for n in used])

    @property
    def card(self) -> str:
        return dataset_card(self.name, self.splits, self.summary_md, self.data_key)

    def key(self) -> str:
        return content_key("dataset/v2", self.data_key, self.schema, self.card, sorted(self.rejects),
                           *[self.rejects[k] for k in sorted(self.rejects)], dict(self.reports),
                           sorted((name, hashlib.sha256(png).hexdigest()) for name, png in self.charts.items()))


def split_files(folder: Path) -> dict[str, Path]:
    """The split files of a published dataset folder, by split."""
    found = {}
    for path in sorted(folder.glob(DATA_FILE.format(split="*", key="*"))):
        found[path.name.split("-", 1)[0]] = path
    return found


def compare_datasets(a: Path, b: Path) -> dict[str, list[str]]:
    """Every file of two dataset folders, by relative path: ``same`` bytes, ``differ``, or only in one."""
    files = [{p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} for root in (a, b)]
    both = sorted(files[0] & files[1])
    differ = [p for p in both if file_sha256(a / p) != file_sha256(b / p)]
    return {"same": [p for p in both if p not in differ], "differ": differ,
            "only_a": sorted(files[0] - files[1]), "only_b": sorted(files[1] - files[0])}


def _image(name, images: Mapping[str, str]) -> dict | None:
    return None if pd.isna(name) else {"bytes": Path(images[name]).read_bytes(), "path": name}


def arrow_schema(frame: pd.DataFrame) -> pa.Schema:
    """The frame's Arrow schema with the image column as ``datasets.Image`` storage, and the
    features in ``datasets``' own schema metadata (so a single split file decodes alike)."""
    schema = pa.Schema.from_pandas(frame, preserve_index=False).remove_metadata()
    if IMAGE_COLUMN in frame:
        schema = schema.set(schema.get_field_index(IMAGE_COLUMN), pa.field(IMAGE_COLUMN, IMAGE_TYPE))
    features = {f["name"]: {"_type": "Image"} if f["dtype"] == "image" else {"dtype": f["dtype"], "_type": "Value"}
                for f in card_features(frame)}
    return schema.with_metadata({"huggingface": json.dumps({"info": {"features": features}})})


def write_split(frame: pd.DataFrame, images: Mapping[str, str], target: Path) -> Path:
    """One split as parquet, the image files' bytes embedded, ``ROW_GROUP`` rows at a time."""
    schema = arrow_schema(frame)
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, max(len(frame), 1), ROW_GROUP):
            chunk = frame.iloc[start:start + ROW_GROUP]
            if IMAGE_COLUMN in chunk:
                chunk = chunk.assign(**{IMAGE_COLUMN: [_image(n, images) for n in chunk[IMAGE_COLUMN]]})
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))
    return target


def _write(build: DatasetBuild, folder: Path) -> None:
    for split, frame in build.splits.items():
        write_split(frame, build.images, folder / DATA_FILE.format(split=split, key=build.data_key))
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
    for name, png in build.charts.items():
        (folder / "reports").mkdir(parents=True, exist_ok=True)
        (folder / "reports" / name).write_bytes(png)


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
    _point_at(home, final)
    _prune(builds, keep={final.name})
    return final, written


def _point_at(home: Path, final: Path) -> None:
    """Move ``home/dataset`` to ``final`` in one step."""
    link = home / "dataset"
    if link.exists() and not link.is_symlink():     # a plain folder from elsewhere: keep it, aside
        os.replace(link, home / "datasets" / f"previous-{os.getpid()}")
    tmp_link = home / f".dataset.{os.getpid()}.link"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(final.relative_to(home), target_is_directory=True)
    os.replace(tmp_link, link)


BASELINES_HEADING = "## Baseline results"
BASELINES_FILE = "baseline_results.json"


def with_baselines(text: str, section: str) -> str:
    """``text`` with its "Baseline results" section (to the end) replaced by ``section``."""
    cut = text.find("\n" + BASELINES_HEADING)
    return (text if cut < 0 else text[:cut]).rstrip("\n") + "\n\n" + section


def publish_baselines(home: Path, build: Path, section: str, results: Path) -> tuple[Path, bool]:
    """``build`` with a benchmark's results: the card and ``reports/quality.md`` gain the
    "Baseline results" section, ``reports/`` the JSON. Written as a build folder of its own
    (hard links to every unchanged file) and swapped in like any build, so the dataset is never
    seen half-written; a rebuild of the dataset drops the section with the results it no longer
    matches. ``results`` is the benchmark's JSON file, copied as it is. Returns the folder and whether ``home/dataset`` now points at it (not when a
    newer build was published meanwhile)."""
    builds, base = home / "datasets", build.name.split("+")[0]
    final = builds / f"{base}+{content_key('baselines/v1', base, section, file_sha256(results))}"
    if not build.is_dir():                         # a newer build replaced and pruned it meanwhile
        return build, False
    if not final.is_dir():
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=builds))
        try:
            shutil.copytree(build, tmp / "build", copy_function=os.link)
            for name in ("README.md", "reports/quality.md"):
                target = tmp / "build" / name
                text = with_baselines(target.read_text(encoding="utf-8"), section)
                target.unlink()                    # a hard link: never write through it into ``build``
                target.write_text(text, encoding="utf-8")
            shutil.copyfile(results, tmp / "build" / "reports" / BASELINES_FILE)
            (tmp / "build").chmod(0o755)
            os.replace(tmp / "build", final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    current = (home / "dataset").resolve()
    if current.name.split("+")[0] != base:
        return final, False
    _point_at(home, final)
    _prune(builds, keep={final.name, base})
    return final, True


def _prune(builds: Path, keep: set[str]) -> None:
    """Keep the current build and the newest others up to KEEP_BUILDS; drop leftovers of crashes."""
    folders = sorted((p for p in builds.iterdir() if p.is_dir() and p.name not in keep),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in folders[KEEP_BUILDS - 1:] + [p for p in folders if p.name.startswith(".")]:
        shutil.rmtree(stale, ignore_errors=True)


def card_features(frame: pd.DataFrame) -> list[dict]:
    """``dataset_info.features``: the image column an ``Image``, numbers their own dtype, the
    rest (ids, text, slot values and sources) strings."""
    return [{"name": c, "dtype": "image" if c == IMAGE_COLUMN else
             frame[c].dtype.name if frame[c].dtype.kind in "biuf" else "string"} for c in frame.columns]


def size_category(rows: int) -> str:
    return next((tag for bound, tag in SIZE_CATEGORIES if rows < bound), "n>100M")


def dataset_card(name: str, splits: Mapping[str, pd.DataFrame], summary_md: str, key: str) -> str:
    """README.md whose YAML lets ``datasets.load_dataset(<dataset dir>)`` load the three splits,
    with their features, from the split files of the build ``key``."""
    counts = {s: len(f) for s, f in splits.items()}
    meta = {"pretty_name": name, "language": ["zh"],
            "task_categories": ["token-classification", "image-classification"],
            "size_categories": [size_category(sum(counts.values()))],
            "configs": [{"config_name": "default",
                         "data_files": [{"split": s, "path": DATA_FILE.format(split=s, key=key)} for s in splits]}],
            "dataset_info": {"features": card_features(next(iter(splits.values())))}}
    return f"""---
{yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)}---

# {name}

Multimodal attribute value prediction (MuJo-SF / MAVP): one row per product description
sentence (`sid`) of a product (`cid`) with its image, and the value of each of the 25 attribute
slots. Text-dependent slots come from the sentence's own annotation, image-dependent slots from
distant-supervision image classifiers; `<slot>_source` says which (`text`, `image`, `none`) and
`<slot>_confidence` gives the classifier's probability for image slots. Slots that do not apply
to a product's category, or that nobody filled, are `none`. `image` is the product image, held
in the row itself (its bytes and file name, `datasets`' `Image` storage); `datasets` decodes it.

```python
import datasets
mavp = datasets.load_dataset("<this folder>")
```

Splits: {", ".join(f"{s} {n}" for s, n in counts.items())} instances.
`schema.json` lists the slots, vocabularies and the computed partition; `reports/quality.md`
tells how good the labels are; `rejects/` holds every input record that did not make it in.

{summary_md}
"""
