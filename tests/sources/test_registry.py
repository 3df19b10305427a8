"""The source registry is the one list: assets, checks, the resource and the CLI follow it."""

from __future__ import annotations

import pytest

from assets.distant import classifier_assets, classifier_checks
from assets.resources import MavpHome
from assets.sources import records_assets, source_checks
from pipeline.cli import build_parser
from pipeline.reasons import Reason
from pipeline.sources.registry import FOLDER_KINDS, SOURCES, SourceSpec, read_source, register, source, vision_sources


def test_every_source_has_its_asset_check_folder_setting_and_cli_choice():
    checked = {c.asset_key.to_user_string() for spec in source_checks for c in spec.check_specs}
    for spec in SOURCES.values():
        assert records_assets[spec.kind].key.to_user_string() == spec.table
        assert spec.table in checked
    assert {f"{k}_dir" for k in FOLDER_KINDS} <= set(MavpHome.model_fields)
    parser = build_parser()
    assert all(parser.parse_args(["check-source", kind, "x"]).kind == kind for kind in SOURCES)
    with pytest.raises(SystemExit):
        parser.parse_args(["check-source", "sixth", "x"])


def test_every_vision_source_trains_with_its_plan():
    assert [a.key.to_user_string() for a in classifier_assets] == [f"{s.kind}_classifier" for s in vision_sources()]
    assert len(classifier_checks) == len(vision_sources())
    for spec in vision_sources():
        assert callable(spec.training_plan()) and spec.paper_table.startswith("Table ")


def test_registering_twice_or_incomplete_is_refused():
    with pytest.raises(ValueError, match="twice"):
        register(SOURCES["crawl"])
    with pytest.raises(ValueError, match="needs training"):
        register(SourceSpec("sixth", SOURCES["crawl"].reader, "x", vision=True))
    assert "sixth" not in SOURCES
    with pytest.raises(ValueError, match="unknown source kind"):
        source("sixth")


def test_a_reader_bug_is_a_counted_reject_not_a_traceback(tmp_path):
    def broken(root, follow_links_outside=False):
        raise KeyError("oops")

    result = SourceSpec("broken", broken, "a reader with a bug").read(tmp_path)
    assert result.valid.empty
    assert result.rejects["reason"].tolist() == [Reason.READER_FAILED]
    assert "KeyError" in result.rejects["detail"].iloc[0]


def test_read_source_passes_follow_links_outside(tmp_path):
    from tests.sources.imgutil import write_image

    write_image(tmp_path / "outside" / "a.jpg")
    (tmp_path / "src" / "upper_height").mkdir(parents=True)
    (tmp_path / "src" / "upper_height" / "高帮").symlink_to(tmp_path / "outside")
    assert read_source("crawl", tmp_path / "src").rejects["reason"].tolist() == [Reason.OUTSIDE_SOURCE]
    followed = read_source("crawl", tmp_path / "src", follow_links_outside=True)
    assert followed.rejects.empty and followed.valid["image_id"].tolist() == ["upper_height/高帮/a.jpg"]
