"""The one map of the home directory (``MAVP_HOME``, default ``.mavp``): every file the graph
reads or writes there is named here, so no stage rebuilds another's paths by hand."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.synth.layout import SampleLayout

HOME_ENV = "MAVP_HOME"
DEFAULT_HOME = ".mavp"


def default_home() -> Path:
    """``$MAVP_HOME``, else ``.mavp`` in the working directory, as an absolute path."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).resolve()


@dataclass(frozen=True)
class HomeLayout:
    """Paths under one home ``root``. Grouped as the README lists them: sources, saliency,
    distant supervision, models and caches, labels, the dataset, Dagster's own storage."""

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root).resolve())

    def relative(self, path: str | Path) -> str:
        """``path`` as shown to users: relative to the home when inside it."""
        for candidate in (Path(os.path.abspath(path)), Path(path).resolve()):   # links kept, then followed
            try:
                return str(candidate.relative_to(self.root))
            except ValueError:
                continue
        return str(path)

    # -- sources --
    @property
    def sample(self) -> SampleLayout:
        """The synthetic sources of the sample profile (their own map)."""
        return SampleLayout(self.root / "sources" / "sample")

    def table(self, name: str) -> Path:
        """A parsed source table (``mepave_records``, ``mepave_image_records``, ...)."""
        return self.root / "sources" / "tables" / f"{name}.parquet"

    @property
    def ifashion_fetch_report(self) -> Path:
        return self.root / "sources" / "fetch" / "ifashion_images.parquet"

    @property
    def rejects_dir(self) -> Path:
        return self.root / "rejects"

    def rejects(self, name: str) -> Path:
        return self.rejects_dir / f"{name}.parquet"

    # -- saliency --
    def saliency(self, name: str) -> Path:
        return self.root / "saliency" / name

    @property
    def region_backbone_info(self) -> Path:
        return self.saliency("region_backbone.json")

    @property
    def region_features(self) -> Path:
        return self.saliency("region_features.npz")

    def predictor_info(self, mode: str) -> Path:
        """``mode``: text (P^T) or multimodal (P^M)."""
        return self.saliency(f"{mode}_value_predictor.json")

    @property
    def slot_saliency(self) -> Path:
        return self.saliency("slot_saliency.parquet")

    @property
    def saliency_chart(self) -> Path:
        return self.saliency("saliency.png")

    @property
    def partition(self) -> Path:
        return self.saliency("partition.json")

    # -- distant supervision --
    def distant_record(self, source: str) -> Path:
        return self.root / "distant" / f"{source}.json"

    def distant_table(self, source: str) -> Path:
        """The source's Table I-IV as markdown."""
        return self.root / "distant" / f"{source}.md"

    @property
    def slot_classifiers(self) -> Path:
        return self.root / "distant" / "slot_classifiers.json"

    # -- models and caches (content-keyed below these folders) --
    def models(self, kind: str) -> Path:
        """``kind``: region_backbone, saliency, distant or mujo_sf."""
        return self.root / "models" / kind

    def cache(self, kind: str) -> Path:
        """``kind``: regions, pixels, features (pooled grid features of the classifiers) or mujo_sf
        (the dataset's images at the benchmark's size)."""
        return self.root / "cache" / kind

    # -- labels --
    @property
    def image_predictions(self) -> Path:
        """Every MEPAVE image scored by the chosen classifiers (one part per shard when partitioned)."""
        return self.root / "labels" / "image_predictions.npz"

    @property
    def image_labels(self) -> Path:
        return self.root / "labels" / "image_labels.parquet"

    @property
    def image_labels_info(self) -> Path:
        return self.root / "labels" / "image_labels.json"

    # -- the MuJo-SF benchmark of the dataset --
    def benchmark(self, name: str) -> Path:
        """``mujo_sf_model.json`` (the trained model's record), ``mujo_sf_benchmark.json`` / ``.md``."""
        return self.root / "benchmark" / name

    # -- the dataset: ``dataset`` links to the current build under ``datasets/`` --
    @property
    def dataset(self) -> Path:
        return self.root / "dataset"

    def dataset_report(self, name: str) -> Path:
        return self.dataset / "reports" / name

    # -- Dagster's run, event and schedule storage, compute logs and UI figures --
    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    @property
    def dagster_logs(self) -> Path:
        return self.dagster / "logs"
