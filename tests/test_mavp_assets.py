"""The whole graph with tiny models from an empty home: the dataset, its checks, reuse on rerun,
and the rebuild job, schedule and sensor."""

import json
import os

import dagster as dg
import pandas as pd
import pytest

from assets.benchmark import benchmark_assets
from assets.definitions import all_assets, defs
from assets.distant import distant_checks
from assets.mavp import full_rebuild, mavp, mavp_checks, source_change_sensor
from assets.resources import MavpHome
from assets.saliency import saliency_checks
from pipeline.mavp.publish import split_files
from pipeline.sources.registry import vision_sources
from tests.test_saliency_assets import run_config as saliency_run_config

TINY_CLASSIFIER = {"image_size": 32, "window_size": 4, "embed_dim": 16, "depths": [1, 1], "num_heads": [1, 2],
                   "epochs": 1, "decode_workers": 1}
CHECKS = [*saliency_checks, *distant_checks, *mavp_checks]
STAR_MAVP = dg.AssetSelection.all() - dg.AssetSelection.assets(*benchmark_assets)     # `*mavp`: not the benchmark


def tiny_run_config():
    config = saliency_run_config()
    config["ops"].update({f"{s}_classifier": {"config": TINY_CLASSIFIER}
                          for s in ("fashionai", "utzap50k", "ifashion", "crawl")})
    config["ops"]["utzap50k_classifier"]["config"] = {**TINY_CLASSIFIER, "single_task_below": 0.0}
    return config


def test_whole_graph_builds_the_dataset_and_a_rerun_reuses_everything(tmp_path):
    home = tmp_path / "home"
    resources = {"mavp_home": MavpHome(home=str(home))}
    result = dg.materialize([*all_assets, *CHECKS], selection=STAR_MAVP, resources=resources,
                            run_config=tiny_run_config())
    assert result.success
    evaluations = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert all(evaluations[c] for c in ("every_split_non_empty", "no_cid_across_splits", "values_in_vocabulary",
                                        "row_counts_match_report", "every_image_slot_has_classifier"))
    dataset = home / "dataset"
    assert dataset.is_symlink() and (dataset / "schema.json").is_file() and (dataset / "README.md").is_file()
    quality = json.loads((dataset / "reports" / "quality.json").read_text())
    counts = quality["split"]["instances"]
    train = pd.read_parquet(split_files(dataset)["train"])
    assert len(train) == counts["train"] > 0
    assert quality["split"]["leakage"]["groups_in_several_splits"] == 0
    # every product image of a row travels inside the row, as JPEG bytes
    assert all(i["bytes"][:2] == b"\xff\xd8" for i in train["image"].dropna())
    for name, table_name in ((s.kind, s.paper_table) for s in vision_sources()):
        meta = result.asset_materializations_for_node(f"{name}_classifier")[0].metadata
        table = meta[table_name]
        assert isinstance(table, dg.TableMetadataValue) and {"task", "#imgs"} <= {c.name for c in table.schema.columns}
        assert len(table.records) >= 1 and len(meta["models"].records) >= 1
    _assert_ui_metadata(result, home)
    # the rejects of every stage are in the dataset, counted in the report
    names = {p.stem for p in (dataset / "rejects").glob("*.parquet")}
    assert {"mepave_records", "fashionai_records", "mavp_text_values"} <= names
    assert quality["rejects_total"] == sum(len(pd.read_parquet(p)) for p in (dataset / "rejects").glob("*.parquet"))

    build = os.path.realpath(dataset)
    again = dg.materialize([*all_assets, *CHECKS], selection=STAR_MAVP, resources=resources,
                           run_config=tiny_run_config())
    assert again.success and os.path.realpath(dataset) == build
    for node in ("fashionai_classifier", "utzap50k_classifier", "ifashion_classifier", "crawl_classifier",
                 "mepave_image_labels"):
        assert again.asset_materializations_for_node(node)[0].metadata["reused"].value is True, node
    assert again.asset_materializations_for_node("mavp")[0].metadata["written"].value is False

    # `--select mavp`: only the assembly, from the upstream already there; a random split is allowed
    only = dg.materialize([*all_assets, *mavp_checks], selection=[mavp.key], resources=resources,
                          run_config={"ops": {"mavp": {"config": {"split": "random"}}}})
    assert only.success
    assert [m.asset_key.to_user_string() for m in only.get_asset_materialization_events()] == ["mavp"]
    leakage = json.loads((dataset / "reports" / "quality.json").read_text())["split"]["leakage"]
    assert leakage["groups_in_several_splits"] > 0            # the paper's split does leak products


def _assert_ui_metadata(result, home):
    """What the asset pages show: tables as tables, figures inline (short markdown whose image the
    webserver serves from the compute-log folder), column schemas, no path of this machine."""
    mats = {m.asset_key.to_user_string(): m.materialization.metadata for m in result.get_asset_materialization_events()}
    mavp_meta = mats["mavp"]
    for key in ("table_v", "table_vi", "truth_accuracy"):
        assert isinstance(mavp_meta[key], dg.TableMetadataValue), key
    table_v = {r.data["category"]: r.data["instances"] for r in mavp_meta["table_v"].records}
    assert table_v["All"] == mavp_meta["dagster/row_count"].value
    columns = {c.name for c in mavp_meta["dagster/column_schema"].schema.columns}
    assert {"sid", "cid", "image", "color", "color_source", "color_confidence"} <= columns
    figure = mavp_meta["figure/table_vi"].value
    assert len(figure) < 1000 and figure.startswith("![")
    served = figure.split("](/logs/")[1].rstrip(")").rsplit("/", 1)
    assert (home / "dagster" / "logs" / f"{served[0]}.{served[1]}").is_file()
    assert "](/logs/figures/" in mavp_meta["quality_report"].value and "](table_vi.png)" not in mavp_meta["quality_report"].value
    assert isinstance(mats["slot_partition"]["per_slot"], dg.TableMetadataValue)
    assert len(mats["slot_partition"]["chart"].value) < 1000
    for name in ("mepave_records", "mepave_image_labels"):
        assert mats[name]["dagster/column_schema"].schema.columns, name
    for name, metadata in mats.items():
        for key, value in metadata.items():
            assert str(home.resolve()) not in str(value.value), (name, key)
    for asset in all_assets:
        spec = next(iter(asset.specs))
        assert spec.kinds and spec.owners and spec.code_version, spec.key


def test_rebuild_job_schedule_and_sensor(tmp_path):
    repo = defs.get_repository_def()
    assert repo.get_job("mavp_full_rebuild").name == full_rebuild.name
    assert defs.get_schedule_def("mavp_weekly_rebuild").cron_schedule == "0 3 * * 1"
    home = MavpHome(home=str(tmp_path / "home"))
    source = home.source_dir("crawl")
    source.mkdir(parents=True)
    (source / "a.jpg").write_bytes(b"x")
    with dg.build_sensor_context(resources={"mavp_home": home}) as context:
        first = source_change_sensor(context)
        assert isinstance(first, dg.SkipReason)               # fingerprints recorded
        cursor = context.cursor
    with dg.build_sensor_context(cursor=cursor, resources={"mavp_home": home}) as context:
        assert isinstance(source_change_sensor(context), dg.SkipReason)
    (source / "b.jpg").write_bytes(b"y")
    with dg.build_sensor_context(cursor=cursor, resources={"mavp_home": home}) as context:
        request = source_change_sensor(context)
        assert isinstance(request, dg.RunRequest) and request.tags["mavp/changed_sources"] == "crawl"


def test_source_fingerprint_takes_names_that_are_not_utf8(tmp_path):
    from assets.mavp import source_fingerprint

    try:
        with open(os.fsencode(tmp_path) + b"/x\xff.jpg", "wb") as fh:
            fh.write(b"a")
    except OSError:
        pytest.skip("filesystem refuses non-UTF-8 names")
    before = source_fingerprint(tmp_path)
    with open(os.fsencode(tmp_path) + b"/x\xff.jpg", "ab") as fh:
        fh.write(b"b")
    assert source_fingerprint(tmp_path) != before
