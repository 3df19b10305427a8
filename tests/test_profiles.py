"""Profiles: one file per setup; the run configs default to it; the build checks it first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import torch
import yaml

from pipeline.preflight import check_profile
from pipeline.profiles import PROFILE_ENV, ProfileError, active_profile, load_profile

REPO = Path(__file__).resolve().parents[1]
TINY_SWIN = {"kind": "finetune", "backbone": "swin_base_patch4_window7_224", "custom_arch": True, "stem": "patch",
             "image_size": 32, "patch_size": 4, "window_size": 2, "embed_dim": 16, "depths": [1, 1],
             "num_heads": [1, 2]}


def write_profile(path: Path, **body) -> Path:
    path.write_text(yaml.safe_dump({"name": "paper", **body}, allow_unicode=True), encoding="utf-8")
    return path


def test_paper_profile_holds_the_papers_settings():
    paper = load_profile("paper")
    predictor = paper.settings_for("masked_value_predictor")
    assert (predictor.lr, predictor.batch_size, predictor.dropout, len(predictor.seeds)) == (2e-4, 60, 0.3, 3)
    assert predictor.encoder and paper.settings_for("slot_partition").lam == 9.0
    assert paper.settings_for("region_features").kind == "faster_rcnn"
    for source in ("fashionai", "utzap50k", "ifashion", "crawl"):
        swin = paper.settings_for(f"{source}_classifier")
        assert (swin.kind, swin.backbone, swin.custom_arch, swin.image_size, swin.stem) == (
            "finetune", "swin_base_patch4_window7_224", False, 224, "patch")
        assert (swin.lr, swin.batch_size, swin.drop_rate) == (2e-4, 60, 0.3) and swin.weights
    assert set(paper.sources) == {"mepave", "mepave_images", "fashionai", "utzap50k", "ifashion", "crawl"}


def test_sample_profile_is_the_settings_defaults():
    sample = load_profile("sample")
    assert sample.generated and sample.settings == {} and sample.sources == {} and sample.shards == 0


@pytest.mark.parametrize("body, names", [
    ({"settings": {"slot_partitoin": {"lam": 9}}}, "settings.slot_partitoin"),
    ({"settings": {"slot_partition": {"lamda": 9}}}, "settings.slot_partition.lamda"),
    ({"settings": {"region_features": {"kind": "yolo"}}}, "settings.region_features"),
    ({"sources": {"mepav": "/x"}}, "sources.mepav"),
    ({"setings": {}}, "setings"),
    ({"shards": -1}, "shards"),
    ({"shards": "16"}, "shards"),
    ({"shards": True}, "shards"),
    ({"settings": {"fashionai_classifier": {"processes": 0}}}, "settings.fashionai_classifier"),
])
def test_a_wrong_key_names_the_file_and_the_key(tmp_path, body, names):
    path = write_profile(tmp_path / "mine.yaml", **body)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert str(path) in str(err.value) and names in str(err.value)


def test_run_configs_default_to_the_active_profile(tmp_path):
    path = write_profile(tmp_path / "mine.yaml", settings={"slot_partition": {"lam": 7.5},
                                                            "crawl_classifier": {"epochs": 3}})
    code = ("from assets.saliency import SlotPartitionConfig; from assets.resources import MavpHome; "
            "from assets.distant import classifier_assets as c; "
            "crawl = [a for a in c if a.key.to_user_string() == 'crawl_classifier'][0]; "
            "print(SlotPartitionConfig().lam, MavpHome().profile, "
            "crawl.op.config_schema.as_field().config_type.fields['epochs'].default_value)")
    env = {**os.environ, PROFILE_ENV: str(path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["7.5", "paper", "3"]


# -- the checks before a build ----------------------------------------------------------------

def _paper_folders(root: Path) -> dict[str, Path]:
    layout = {"mepave": "jdai.jave.fashion.train", "fashionai": "Annotations/label.csv",
              "utzap50k": "ut-zap50k-data/meta-data.csv", "ifashion": "train.json", "crawl": "a/b/c.jpg"}
    folders = {}
    for kind in ("mepave", "fashionai", "utzap50k", "ifashion", "crawl", "mepave_images"):
        folders[kind] = root / kind
        target = folders[kind] / layout.get(kind, "x.jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("", encoding="utf-8")
    return folders


def _tiny_swin(path: Path, **change) -> Path:
    from models.attributes import BackboneSpec
    from pipeline.distant.config import CrawlTraining
    from pipeline.distant.train import backbone_spec

    config = CrawlTraining(**{k: tuple(v) if isinstance(v, list) else v for k, v in {**TINY_SWIN, **change}.items()})
    spec: BackboneSpec = backbone_spec(config)
    torch.save(spec.create().state_dict(), path)
    return path


def test_a_profile_that_fits_has_no_problem(tmp_path):
    folders = _paper_folders(tmp_path / "data")
    weights = _tiny_swin(tmp_path / "swin.pth")
    path = write_profile(tmp_path / "mine.yaml", sources={k: str(v) for k, v in folders.items()},
                         settings={"crawl_classifier": {**TINY_SWIN, "weights": str(weights)},
                                   "region_features": {"kind": "grid"}})
    assert check_profile(load_profile(path), folders) == []


def test_every_missing_or_mismatched_file_is_named(tmp_path):
    folders = _paper_folders(tmp_path / "data")
    (folders["fashionai"] / "Annotations" / "label.csv").unlink()
    other = _tiny_swin(tmp_path / "other.pth", embed_dim=8)           # the same names, other shapes
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}), encoding="utf-8")
    path = write_profile(tmp_path / "mine.yaml", sources={k: str(v) for k, v in folders.items() if k != "crawl"},
                         settings={"crawl_classifier": {**TINY_SWIN, "weights": str(other)},
                                   "masked_value_predictor": {"encoder": str(bert)},
                                   "region_features": {"kind": "faster_rcnn", "weights": str(tmp_path / "no.pth")},
                                   "mujo_sf_model": {**{k: v for k, v in TINY_SWIN.items() if k != "kind"},
                                                     "weights": str(other), "text_encoder": str(tmp_path / "none")}})
    folders.pop("crawl")
    problems = check_profile(load_profile(path), {**folders, "crawl": None})
    joined = "\n".join(problems)
    assert len(problems) == 7, joined
    assert "settings.mujo_sf_model.text_encoder" in joined and "settings.mujo_sf_model.weights" in joined
    assert "sources.crawl is not set" in joined
    assert "sources.fashionai" in joined and "Annotations/label.csv" in joined
    assert "settings.crawl_classifier.weights" in joined and "other shape" in joined
    assert "settings.masked_value_predictor.encoder" in joined and "vocab.txt" in joined
    assert "settings.region_features.weights" in joined and "no.pth does not exist" in joined


def test_the_build_stops_at_the_profile_with_every_problem(tmp_path, monkeypatch):
    from assets.resources import MavpHome
    from assets.sources import profile

    path = write_profile(tmp_path / "mine.yaml", sources={"mepave": str(tmp_path / "nowhere")})
    monkeypatch.setenv(PROFILE_ENV, str(path))
    active_profile.cache_clear()
    try:
        result = dg.materialize([profile], resources={"mavp_home": MavpHome(home=str(tmp_path / "home"), profile="paper",
                                                                            mepave_dir=str(tmp_path / "nowhere"))},
                                raise_on_error=False)
    finally:
        active_profile.cache_clear()
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "sources.mepave" in failure and "sources.fashionai is not set" in failure


def test_cli_prints_every_setting_and_checks(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", "profile", "paper", "--check"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "* encoder" in out.stdout and "problem:" in out.stdout and "settings.crawl_classifier:" in out.stdout
