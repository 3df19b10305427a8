"""The Dagster layer: definitions load, and the source assets materialize in-process."""

import dagster as dg
import pandas as pd

from assets.definitions import all_assets, defs
from assets.resources import MavpHome
from assets.sources import mepave_image_records, sample_sources, source_assets, source_checks

SOURCE_TABLES = ["mepave_records", "fashionai_records", "utzap50k_records", "ifashion_records",
                 "crawl_records", "mepave_image_records"]


def test_definitions_load():
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"sample_sources", *SOURCE_TABLES} <= keys
    assert defs.resolve_job_def("build_all") is not None


def test_source_assets_materialize(tmp_path):
    home = tmp_path / "home"
    result = dg.materialize(
        [sample_sources, *source_assets, mepave_image_records, *source_checks],
        resources={"mavp_home": MavpHome(home=str(home))},
        run_config={"ops": {"sample_sources": {"config": {"seed": 3, "scale": 0.1}}}},
    )
    assert result.success
    for name in SOURCE_TABLES:
        table = pd.read_parquet(home / "sources" / "tables" / f"{name}.parquet")
        rejects = pd.read_parquet(home / "rejects" / f"{name}.parquet")
        assert len(table) > 0, name
        assert list(rejects.columns) == ["source", "location", "record", "reason", "detail"]
        mats = result.asset_materializations_for_node(name)
        assert mats[0].metadata["dagster/row_count"].value == len(table)
        assert mats[0].metadata["rejected"].value == len(rejects)
    # every injected bad MEPAVE line kind shows up as its own reason
    reasons = set(pd.read_parquet(home / "rejects" / "mepave_records.parquet")["reason"])
    assert {"wrong_column_count", "unbalanced_tag", "nested_tag", "unknown_attribute", "empty_value",
            "text_mismatch", "duplicate_sid", "no_category"} <= reasons
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(SOURCE_TABLES) and all(c.passed for c in checks)


def test_empty_source_fails_its_check(tmp_path):
    empty = tmp_path / "empty_mepave"
    empty.mkdir()
    mepave = next(a for a in all_assets if a.key.path[-1] == "mepave_records")
    check = next(c for c in source_checks if "mepave_records" in str(list(c.check_keys)[0]))
    result = dg.materialize(
        [mepave, check],
        resources={"mavp_home": MavpHome(home=str(tmp_path / "home"), profile="paper",
                                         mepave_dir=str(empty))},
        raise_on_error=False,
    )
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 1 and not evaluations[0].passed
