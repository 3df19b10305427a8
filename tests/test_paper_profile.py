"""The paper profile's code path end to end, on real formats: real MEPAVE and FashionAI lines,
the real iMaterialist label map, UT-ZAP50K and crawl folders in their layouts, and checkpoints
at the paper's layer names (tiny sizes). The same command and code a real run takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tests.paper_world import DETECTOR, paper_profile

REPO = Path(__file__).resolve().parents[1]


def materialize(profile: Path, home: Path, select: str = "*mavp") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(MAVP_PROFILE=str(profile), MAVP_HOME=str(home))
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.run([str(dagster), "asset", "materialize", "--select", select, "-m", "assets.definitions"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_data) -> Path:        # shared_data: a clear failure without ../shared
    return paper_profile(tmp_path_factory.mktemp("paper"))


def test_paper_profile_builds_mavp_from_real_formats(world, tmp_path):
    home = tmp_path / "home"
    done = materialize(world, home)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    settings = yaml.safe_load(world.read_text(encoding="utf-8"))["settings"]
    # classifiers: Swin (swin_base's names) from the local state dict, the paper's optimiser settings
    for source in ("fashionai", "utzap50k", "ifashion", "crawl"):
        record = json.loads((home / "distant" / f"{source}.json").read_text(encoding="utf-8"))
        config = record["config"]
        assert (config["kind"], config["backbone"], config["lr"], config["drop_rate"], config["weight_decay"]) == (
            "finetune", "swin_base_patch4_window7_224", 2e-4, 0.3, 0.02)
        assert config["weights"] == settings[f"{source}_classifier"]["weights"] and record["models"]
    # the predictors on the saved BERT, regions from the Faster R-CNN state dict
    for mode in ("text", "multimodal"):
        info = json.loads((home / "saliency" / f"{mode}_value_predictor.json").read_text(encoding="utf-8"))
        assert info["config"]["encoder"] == settings["masked_value_predictor"]["encoder"]
        assert info["config"]["dropout"] == 0.3 and len(info["config"]["seeds"]) == 2
    regions = json.loads(str(np.load(home / "saliency" / "region_features.npz", allow_pickle=False)["config"]))
    assert (regions["kind"], regions["variant"], regions["weights"]) == (
        "faster_rcnn", DETECTOR, settings["region_features"]["weights"])
    # MAVP from the real MEPAVE lines: every split written, each row a real product
    quality = json.loads((home / "dataset" / "reports" / "quality.json").read_text(encoding="utf-8"))
    assert quality["split"]["leakage"]["groups_in_several_splits"] == 0
    rows = pd.concat([pd.read_parquet(p) for p in (home / "dataset" / "data").glob("*.parquet")])
    real = {line.split("\t")[1] for f in (world.parent / "data" / "mepave").glob("jdai.jave.*")
            for line in f.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert len(rows) > 0 and set(rows["sid"]) <= real
    # the benchmark on it, as typed: MuJo-SF on the saved BERT (WordPiece, [SLOT_j] added) and the Swin state dict
    benchmark = materialize(world, home, "mujo_sf_benchmark")
    assert benchmark.returncode == 0, benchmark.stdout[-4000:] + benchmark.stderr[-4000:]
    results = json.loads((home / "dataset" / "reports" / "baseline_results.json").read_text(encoding="utf-8"))
    assert [r["method"] for r in results["table_vii"]][-1] == "MuJo-SF" and len(results["table_viii"]) == 4
    assert not (home / "benchmark" / "mujo_sf_model.json").exists()     # the benchmark alone: the profile's settings
    runs = {p.parent.parent.name for p in (home / "models" / "mujo_sf").glob("*/*/record.json")}
    assert runs == {"mujo_sf", "text_only", "image_only", "without_cross_attention", "without_td_loss",
                    "without_id_loss", "image_only_reliable"}
    record = json.loads(next((home / "models" / "mujo_sf" / "mujo_sf").glob("*/record.json")).read_text())
    assert record["config"]["text_encoder"] == settings["mujo_sf_model"]["text_encoder"]
    assert record["config"]["weights"] == settings["mujo_sf_model"]["weights"]


def test_a_wrong_weights_file_stops_the_build_before_training(world, tmp_path):
    profile = yaml.safe_load(world.read_text(encoding="utf-8"))
    wrong = tmp_path / "wrong.pth"
    torch.save({"layers.0.blocks.0.attn.qkv.weight": torch.zeros(3, 3)}, wrong)
    profile["settings"]["crawl_classifier"]["weights"] = str(wrong)
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    home = tmp_path / "home"
    done = materialize(path, home)
    assert done.returncode != 0
    assert "settings.crawl_classifier.weights" in done.stdout + done.stderr and "wrong.pth" in done.stdout + done.stderr
    assert not (home / "models").exists() and not (home / "sources" / "tables").exists()
