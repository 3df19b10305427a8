"""Profiles: one readable YAML file per setup, holding its source folders, weights paths and
every hyper-parameter that differs from the settings classes' defaults.

``pipeline/config/profiles/sample.yaml`` is the embedded default (generated sources, small
models); ``paper.yaml`` is MuJo-SF's setup on the real datasets. ``MAVP_PROFILE`` names the
active one: a profile name, or the path of your own copy (``make run PROFILE=paper`` sets it).
The Dagster run-config classes take their defaults from the active profile, so the Launchpad
shows them and a run config still overrides any one of them.

A profile file has these keys:

- ``name``: ``sample`` (sources generated under the home) or ``paper`` (real folders);
- ``shards`` (optional, default 0): the data-parallel steps (iMaterialist fetch, MEPAVE image
  decoding and labelling) become Dagster partitions, this many hash shards of the ids, so that
  a backfill spreads them over runs and any executor (:mod:`pipeline.shards`); 0: one step each;
- ``sources``: one folder per source kind of the registry, plus ``mepave_images`` (``paper``);
- ``weights``: the local files the settings use (YAML anchors let ``settings`` refer to them);
- ``settings``: per asset, the fields of its settings class that differ from the defaults.

Every key is checked on load: an unknown section or field, or a value the settings class
refuses, is a :class:`ProfileError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PROFILE_ENV = "MAVP_PROFILE"
PROFILES_DIR = Path(__file__).resolve().parent / "config" / "profiles"
DEFAULT_PROFILE = "sample"
KINDS = ("sample", "paper")


class ProfileError(ValueError):
    """A profile file that cannot be used, with the file and key at fault."""


def settings_sections() -> dict[str, type]:
    """Profile section -> the settings dataclass it sets (one per configurable asset)."""
    from pipeline.benchmark.config import BenchmarkConfig, MujoSFConfig
    from pipeline.categorise import CategoriserConfig
    from pipeline.mavp.build import AssemblyConfig
    from pipeline.mavp.labeling import LabelConfig
    from pipeline.saliency.config import BackbonePretrainConfig, PredictorConfig, RegionConfig
    from pipeline.saliency.scoring import PartitionRule
    from pipeline.sources.registry import vision_sources

    return {"mepave_categories": CategoriserConfig, "region_backbone": BackbonePretrainConfig, "region_features": RegionConfig,
            "masked_value_predictor": PredictorConfig, "slot_partition": PartitionRule,
            **{f"{s.kind}_classifier": s.training for s in vision_sources()},
            "mepave_image_labels": LabelConfig, "mavp": AssemblyConfig,
            "mujo_sf_model": MujoSFConfig, "mujo_sf_benchmark": BenchmarkConfig}


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    sources: dict[str, str] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    shards: int = 0

    @property
    def generated(self) -> bool:
        """The sources are the synthetic sample the graph writes under the home."""
        return self.name == "sample"

    def defaults(self, section: str) -> dict[str, Any]:
        """The fields this profile sets for ``section`` (lists as the YAML gives them)."""
        return dict(self.settings.get(section, {}))

    def settings_for(self, section: str) -> Any:
        """The section's settings object: the class defaults with this profile's values."""
        cls = settings_sections()[section]
        return _build(cls, self.defaults(section), self.path, section)


def profile_path(name_or_path: str | os.PathLike) -> Path:
    """A profile name (``sample``, ``paper``) or the path of a profile file."""
    text = str(name_or_path)
    if text in KINDS:
        return PROFILES_DIR / f"{text}.yaml"
    return Path(text).expanduser().resolve()


def load_profile(name_or_path: str | os.PathLike = DEFAULT_PROFILE) -> Profile:
    """Read and check a profile file; raises :class:`ProfileError`."""
    path = profile_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"profile {name_or_path!r}: cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping with name, sources, weights and settings")
    unknown = sorted(set(data) - {"name", "shards", "sources", "weights", "settings"})
    if unknown:
        raise ProfileError(f"{path}: unknown top-level key(s) {unknown}; expected name, shards, sources, weights, "
                           "settings")
    name = data.get("name")
    if name not in KINDS:
        raise ProfileError(f"{path}: name must be one of {KINDS}, got {name!r}")
    shards = data.get("shards", 0)
    if not isinstance(shards, int) or isinstance(shards, bool) or not 0 <= shards <= 10_000:
        raise ProfileError(f"{path}: shards must be a whole number from 0 (no partitions) to 10000, got {shards!r}")
    profile = Profile(name, path, _mapping(data, "sources", path), _mapping(data, "weights", path),
                      _mapping(data, "settings", path), shards)
    _check_sources(profile)
    sections = settings_sections()
    for section, values in profile.settings.items():
        if section not in sections:
            raise ProfileError(f"{path}: settings.{section} is no asset's settings; expected one of {sorted(sections)}")
        if not isinstance(values, dict):
            raise ProfileError(f"{path}: settings.{section} must be a mapping of field: value")
        profile.settings_for(section)
    return profile


def _mapping(data: dict, key: str, path: Path) -> dict:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ProfileError(f"{path}: {key} must be a mapping")
    return value


def _check_sources(profile: Profile) -> None:
    from pipeline.sources.registry import FOLDER_KINDS

    unknown = sorted(set(profile.sources) - set(FOLDER_KINDS))
    if unknown:
        raise ProfileError(f"{profile.path}: sources.{unknown[0]} is no source; expected some of {list(FOLDER_KINDS)}")
    if profile.generated and profile.sources:
        raise ProfileError(f"{profile.path}: the sample profile generates its sources; give no sources")


def _build(cls: type, values: dict[str, Any], path: Path, section: str) -> Any:
    """``cls(**values)`` with tuples for lists; a :class:`ProfileError` naming the key on failure."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ProfileError(f"{path}: settings.{section}.{unknown[0]} is not a setting of {cls.__name__} "
                           f"(it has {sorted(fields)})")
    typed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        return cls(**typed)
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"{path}: settings.{section}: {exc}") from None


@cache
def active_profile() -> Profile:
    """The profile ``MAVP_PROFILE`` names (default ``sample``), read once per process."""
    return load_profile(os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE)
