"""The one map of the home directory, and the Dagster instance storage that lives in it."""

from pathlib import Path

from assets.instance import MavpComputeLogManager, MavpSqliteStorage
from pipeline.home import HomeLayout, default_home


def test_home_defaults_to_dot_mavp_and_follows_mavp_home(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAVP_HOME", raising=False)
    assert default_home() == tmp_path / ".mavp"
    monkeypatch.setenv("MAVP_HOME", "elsewhere")
    assert default_home() == tmp_path / "elsewhere"


def test_paths_are_shown_relative_to_the_home(tmp_path):
    layout = HomeLayout(tmp_path / "home")
    assert layout.relative(layout.table("mepave_records")) == "sources/tables/mepave_records.parquet"
    assert layout.relative(layout.dagster_logs) == "dagster/logs"
    assert layout.relative("/somewhere/else.csv") == "/somewhere/else.csv"
    # the dataset link is shown as the link, not the build folder it points at
    (layout.root / "datasets" / "abc").mkdir(parents=True)
    layout.dataset.symlink_to(Path("datasets") / "abc")
    assert layout.relative(layout.dataset_report("quality.md")) == "dataset/reports/quality.md"


def test_dagster_storage_goes_under_the_home_unless_given(monkeypatch, tmp_path):
    monkeypatch.setenv("MAVP_HOME", str(tmp_path / "home"))
    storage = MavpSqliteStorage.from_config_value(None, {})
    assert Path(storage.base_dir) == tmp_path / "home" / "dagster"
    logs = MavpComputeLogManager.from_config_value(None, {})
    assert Path(logs._base_dir) == tmp_path / "home" / "dagster" / "logs"
    given = MavpSqliteStorage.from_config_value(None, {"base_dir": str(tmp_path / "given")})
    assert Path(given.base_dir) == tmp_path / "given"
