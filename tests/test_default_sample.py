"""The embedded default end to end: `*mavp` with every default config on the default sample,
built once for this module (the slowest test, ~5 minutes on 2 cores). Holds the partition
(issue 3), the classifier quality floors (issue 4), the dataset contract and label quality
(issue 5), the labels' accuracy and reliability (issue 12), and the MuJo-SF benchmark of the
built dataset (issue 16, with small models)."""

import json

import dagster as dg
import pandas as pd
import pytest

from assets.benchmark import benchmark_assets, benchmark_checks, mujo_sf_benchmark, mujo_sf_model
from assets.definitions import all_assets
from assets.distant import distant_checks
from assets.mavp import mavp_checks
from assets.resources import MavpHome
from assets.saliency import saliency_checks
from pipeline.schema import default_schema
from pipeline.sources.registry import vision_sources

# Test accuracy floors on the default sample (grid-probe classifiers over the frozen ImageNet
# backbone; measured values in the issue 12 note, the floors leave room for float differences
# between machines and the few dozen test images of some tasks). Keys: (source, model, task, metric).
CLASSIFIER_FLOORS = {
    ("ifashion", "single_label-color", "color", "test_accuracy"): 0.80,
    ("fashionai", "multi_task", "pant_length_labels", "test_accuracy"): 0.45,
    ("fashionai", "multi_task", "skirt_length_labels", "test_value_accuracy"): 0.42,
    ("utzap50k", "joint", "HeelHeight", "test_value_accuracy"): 0.58,
    ("utzap50k", "single_task-ToeStyle", "ToeStyle", "test_value_accuracy"): 0.70,
    ("utzap50k", "joint", "Closure", "test_value_accuracy"): 0.82,
    ("crawl", "single_label-upper_height", "upper_height", "test_accuracy"): 0.60,
}
# Image labels of MEPAVE products against the generator's truth (all labelled products; the
# measured values are in the issue 12 note: 0.76 to 0.99). The floors sit about 4 points below.
TRUTH_FLOORS = {"closure": 0.88, "color": 0.90, "heel_height": 0.72, "neckline": 0.86, "pant_length": 0.83,
                "skirt_length": 0.87, "sleeve_length": 0.73, "toecap": 0.78, "upper_height": 0.93}
RELIABILITY_AUROC_FLOOR = 0.85       # measured 0.92 to 1.00 per slot, 0.95 over all image labels


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    home = tmp_path_factory.mktemp("default") / "home"
    result = dg.materialize([*all_assets, *saliency_checks, *distant_checks, *mavp_checks],
                            selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*benchmark_assets),
                            resources={"mavp_home": MavpHome(home=str(home))})
    assert result.success
    return home, result


def test_every_slot_is_measured_and_the_partition_is_the_papers(build):
    """Issue 11: on the default sample the slots are decided by measurement (dif +- 1.96 SE
    against lambda = 9), each on at least 30 validation instances, and the measured partition is
    the paper's; the page and the fallback check say how many were measured."""
    home, result = build
    table = pd.read_parquet(home / "saliency" / "slot_saliency.parquet")
    assert dict(zip(table["slot"], table["decision"])) == default_schema().paper_partition()
    assert table["support"].min() >= 30, table.nsmallest(3, "support")[["slot", "support"]]
    image = table[table["decision"] == "image"]
    assert (image["basis"] == "measured").all() and (image["dif"] - 1.96 * image["dif_se"] >= 9).all()
    # 25/25 here; the tightest text slot (elasticity) clears lambda by 1.1 points, about two
    # (instance, seed) predictions, so another CPU's float rounding may leave it uncertain
    unmeasured = table.loc[table["basis"] != "measured"]
    assert len(unmeasured) <= 1, unmeasured[["slot", "dif", "dif_se"]]
    assert (unmeasured["dif"] + 1.96 * unmeasured["dif_se"] < 9 + 2).all()
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["every_slot_measured"].passed == unmeasured.empty
    meta = result.asset_materializations_for_node("slot_partition")[0].metadata
    assert meta["decided by measurement"].value == f"{25 - len(unmeasured)}/25"
    # P^M against P^T on the text-dependent slots: the warning follows its stated rule
    fusion = checks["multimodal_keeps_text_evidence"].metadata
    assert fusion["text_slots_instances"].value > 0
    upper = fusion["text_slots_dif"].value + 1.96 * fusion["text_slots_dif_se"].value
    assert checks["multimodal_keeps_text_evidence"].passed == (upper >= 0)


def test_classifiers_reach_their_floors_and_every_image_slot_has_one(build):
    home, result = build
    for (source, model, task, metric), floor in CLASSIFIER_FLOORS.items():
        record = json.loads((home / "distant" / f"{source}.json").read_text())
        row = next(r for r in record["results"] if r["model"] == model and r["task"] == task)
        assert row[metric] >= floor, (source, model, task, metric, row[metric])
    chosen = json.loads((home / "distant" / "slot_classifiers.json").read_text())["slots"]
    assert {r["slot"] for r in chosen if r["status"] == "ready"} == set(json.loads(
        (home / "saliency" / "partition.json").read_text())["partition"]["image"])
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}
    for name, table_name in ((s.kind, s.paper_table) for s in vision_sources()):
        meta = result.asset_materializations_for_node(f"{name}_classifier")[0].metadata
        assert any(c.name.endswith(" %") for c in meta[table_name].schema.columns)      # a strategy's results
        # the warning lists exactly the tasks its table marks as not clearly above chance
        check = checks[(f"{name}_classifier", "tasks_above_chance")]
        weak = [r.data["task"] for r in meta["above_chance"].records if not r.data["ok"]]
        assert check.passed == (not weak) and check.metadata["weak_tasks"].value == weak


def test_dataset_loads_with_the_contract_columns(build, monkeypatch, tmp_path):
    import datasets

    home, _ = build
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = datasets.load_dataset(str(home / "dataset"), cache_dir=str(tmp_path / "hf"))
    assert set(loaded) == {"train", "validation", "test"}
    schema = default_schema()
    doc = json.loads((home / "dataset" / "schema.json").read_text())
    columns = loaded["train"].column_names
    assert columns == doc["columns"]
    assert columns[:5] == ["sid", "cid", "category", "text", "image"]
    for slot in schema.slot_keys:
        assert slot in columns and f"{slot}_source" in columns
        assert (f"{slot}_confidence" in columns) == (slot in doc["partition"]["image"])
        assert (f"{slot}_reliability" in columns) == (slot in doc["partition"]["image"])
    quality = json.loads((home / "dataset" / "reports" / "quality.json").read_text())
    assert {s: len(loaded[s]) for s in loaded} == quality["split"]["instances"]
    train_cids = set(loaded["train"]["cid"])
    assert not train_cids & set(loaded["test"]["cid"]) and not train_cids & set(loaded["validation"]["cid"])


def test_distant_labels_against_the_truth(build):
    home, result = build
    quality = json.loads((home / "dataset" / "reports" / "quality.json").read_text())
    truth = {r["slot"]: r for r in quality["truth_accuracy"]}
    for slot, floor in TRUTH_FLOORS.items():
        assert truth[slot]["truth_accuracy"] >= floor, (slot, truth[slot])
    # the reliability ranks right labels above wrong ones, per slot and over all, and its check says so
    for row in quality["reliability"]:
        assert row["auroc"] >= RELIABILITY_AUROC_FLOOR, row
        assert row["accuracy_top_50"] >= row["accuracy_top_80"] >= row["accuracy_top_100"], row
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "image_label_reliability")
    assert check.passed and check.metadata["out_of_range"].value == {}
    assert quality["min_reliability"] == {"threshold": 0.0, "removed_by_slot": {}, "removed_total": 0}
    assert {f"contact_{s}.png" for s in TRUTH_FLOORS} <= {p.name for p in (home / "dataset" / "reports").iterdir()}
    # the content warning names exactly the slots labelled no better than the majority guess
    below = sorted(s for s, r in truth.items() if not (r["truth_accuracy"] or 0) > (r["majority_baseline"] or 1))
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "image_labels_beat_majority")
    assert sorted(check.metadata["weak_slots"].value) == below and check.passed == (not below)
    # Table VI's relative accuracy can differ from the truth accuracy on the same rows only
    # where the sentence's annotation is not the truth; the synthetic sentences annotate the
    # true value, so here the two agree within a few points
    for row in quality["table_vi"]:
        if row["support"]:
            gap = abs(row["relative_accuracy"] - row["truth_accuracy_same_rows"])
            assert gap <= 1 - row["annotation_matches_truth"] + 1e-9, row
            assert gap <= 0.03, row


def test_every_product_gets_a_category_and_the_image_decides_the_unnamed(build):
    """5 % of the world's products have one sentence naming no product: their words decide
    some (a part only one category has), their image the rest (35 on the default sample,
    measured 0.857 right); the words are always right here."""
    home, _ = build
    quality = json.loads((home / "dataset" / "reports" / "quality.json").read_text())
    by = {r["by"]: r for r in quality["categories"]}
    assert by["text"]["accuracy"] >= 0.99 and by["none"]["products"] == 0
    assert by["image"]["products"] >= 20 and by["image"]["accuracy"] >= 0.7, by["image"]


# Small encoders and one epoch: the test checks the benchmark's wiring and tables, not its scores.
SMALL_MUJO_SF = {"epochs": 1, "text_hidden": 16, "text_layers": 1, "text_heads": 2, "image_size": 16, "window_size": 2,
                 "embed_dim": 8, "depths": [1, 1], "num_heads": [1, 2]}


def test_mujo_sf_benchmark_shows_tables_vii_and_viii_and_joins_the_card(build):
    home, _ = build
    result = dg.materialize([*all_assets, *benchmark_checks], selection=[mujo_sf_model, mujo_sf_benchmark],
                            resources={"mavp_home": MavpHome(home=str(home))},
                            run_config={"ops": {"mujo_sf_model": {"config": SMALL_MUJO_SF},
                                                "mujo_sf_benchmark": {"config": {"bootstrap_samples": 100}}}})
    assert result.success
    meta = result.asset_materializations_for_node("mujo_sf_benchmark")[0].metadata
    vii = [r.data for r in meta["table_vii"].records]
    assert [r["method"] for r in vii] == ["Majority value", "BERT (text only)", "Swin (image only)", "MuJo-SF"]
    assert vii[1]["Test I-D JGA"] == "-" and vii[2]["Test T-D JGA"] == "-" and vii[3]["Test I-D SA"] != "-"
    viii = {r.data["method"]: r.data for r in meta["table_viii"].records}
    assert viii["-w/o T-D loss"]["T-D JGA"] == "-" and viii["-w/o I-D loss"]["I-D SA"] == "-"
    assert viii["-w/o cross attention"]["T-D SA"] != "-"
    training = {r.data["run"]: r.data for r in meta["training"].records}
    assert meta["reused"].data["mujo_sf"] and training["MuJo-SF"]["epochs"] == 1    # the model asset's run and settings
    against = {r.data["scored against"] for r in meta["reliability_experiment"].records}
    assert against == {"dataset labels", "truth"}
    card = (home / "dataset" / "README.md").read_text(encoding="utf-8")
    assert "## Baseline results" in card and "Table VII" in card and "Table VIII" in card
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["baseline_results_on_card"] and "mujo_sf_beats_majority" in checks
