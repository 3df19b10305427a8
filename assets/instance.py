"""Dagster instance storage that lives under the project's home, named in ``dagster.yaml``.

Dagster's own storage classes need a fixed ``base_dir`` (or one environment variable with no
default), so ``dagster dev`` or ``dagster asset materialize`` typed at the repo root failed unless
a variable was set. These subclasses take ``base_dir`` when it is given and otherwise put
everything under ``$MAVP_HOME/dagster`` (default ``.mavp/dagster``): moving the home moves the
run history with it, and nothing is written in the repository.
"""

from __future__ import annotations

from dagster import Field, StringSource
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

from pipeline.home import HomeLayout, default_home


def _base_dir(config_value: dict, default) -> str:
    return str(config_value.get("base_dir") or default(HomeLayout(default_home())))


class _OptionalBaseDir:
    """Config of a storage whose ``base_dir`` may be left out."""

    @classmethod
    def config_type(cls):
        return {"base_dir": Field(StringSource, is_required=False)}


class MavpSqliteStorage(_OptionalBaseDir, DagsterSqliteStorage):
    """Runs, event logs and schedules in SQLite under ``$MAVP_HOME/dagster``."""

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(_base_dir(config_value, lambda home: home.dagster), inst_data=inst_data)


class MavpArtifactStorage(_OptionalBaseDir, LocalArtifactStorage):
    """Dagster's local artifacts under ``$MAVP_HOME/dagster``."""

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(_base_dir(config_value, lambda home: home.dagster), inst_data=inst_data)


class MavpComputeLogManager(LocalComputeLogManager):
    """Step stdout / stderr under ``$MAVP_HOME/dagster/logs``. The webserver serves files of this
    folder at ``/logs/...``, which is how report figures show inline on asset pages."""

    @classmethod
    def config_type(cls):
        return {**LocalComputeLogManager.config_type(), **_OptionalBaseDir.config_type()}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **{**config_value,
                                           "base_dir": _base_dir(config_value, lambda home: home.dagster_logs)})
