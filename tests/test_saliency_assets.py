"""The saliency assets materialize in-process from an empty home and publish the partition."""

import json

import dagster as dg
import pandas as pd

from assets.definitions import defs
from assets.saliency import saliency_assets
from assets.sources import ifashion_images, mepave_image_records, sample_sources, source_assets
from assets.resources import MavpHome
from assets.saliency import read_partition, saliency_checks
from pipeline.schema import default_schema

SALIENCY_GRAPH = [sample_sources, ifashion_images, *source_assets, mepave_image_records, *saliency_assets]
TINY_PREDICTOR = {"epochs": 1, "seeds": [0, 1], "hidden_size": 16, "num_heads": 2, "intermediate_size": 32,
                  "fusion_dim": 8}


def run_config(epochs_backbone=1):
    return {"ops": {
        "sample_sources": {"config": {"seed": 1, "scale": 0.2}},
        "region_backbone": {"config": {"epochs": epochs_backbone, "max_per_slot": 40, "image_size": 32}},
        "region_features": {"config": {"image_size": 32}},
        "text_value_predictor": {"config": TINY_PREDICTOR},
        "multimodal_value_predictor": {"config": TINY_PREDICTOR},
        "slot_partition": {"config": {"lam": 9.0}},
    }}


def test_slot_partition_materializes_and_reuses_work(tmp_path):
    home = tmp_path / "home"
    resources = {"mavp_home": MavpHome(home=str(home))}
    result = dg.materialize([*SALIENCY_GRAPH, *saliency_checks], resources=resources, run_config=run_config())
    assert result.success
    slots = set(default_schema().slot_keys)
    parts = read_partition(MavpHome(home=str(home)))
    assert set(parts["image"]) | set(parts["text"]) == slots and not set(parts["image"]) & set(parts["text"])
    doc = json.loads((home / "saliency" / "partition.json").read_text())
    assert len(doc["slots"]) == 25 and doc["rule"]["lam"] == 9.0
    assert (home / "saliency" / "saliency.png").read_bytes()[:4] == b"\x89PNG"
    meta = result.asset_materializations_for_node("slot_partition")[0].metadata
    assert meta["chart"].value.startswith("![Fig. 3") and "](/logs/figures/saliency-" in meta["chart"].value
    assert list(meta)[0] == "decided by measurement"
    per_slot = meta["per_slot"]
    assert isinstance(per_slot, dg.TableMetadataValue) and len(per_slot.records) == 25
    table = pd.read_parquet(home / "saliency" / "slot_saliency.parquet")
    assert {"support", "a_T", "a_M", "dif", "decision", "basis", "paper"} <= set(table.columns)
    evaluations = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert evaluations["every_slot_decided"].passed
    assert "text_slots_dif_se" in evaluations["multimodal_keeps_text_evidence"].metadata
    measured = evaluations["every_slot_measured"]
    fallback = table.loc[table["basis"] != "measured", "slot"].tolist()
    assert measured.passed == (not fallback) and measured.metadata["fallback_slots"].value == fallback
    assert measured.severity == dg.AssetCheckSeverity.WARN

    again = dg.materialize([*SALIENCY_GRAPH, *saliency_checks], resources=resources, run_config=run_config())
    assert again.success
    features = again.asset_materializations_for_node("region_features")[0].metadata["cache"].value
    assert features["extracted"] == 0 and features["cache_hits"] == features["images"]
    for node in ("region_backbone", "text_value_predictor", "multimodal_value_predictor"):
        assert again.asset_materializations_for_node(node)[0].metadata["reused"].value is True


def test_saliency_assets_in_definitions():
    keys = {k.to_user_string() for k in defs.get_repository_def().asset_graph.get_all_asset_keys()}
    assert {"region_backbone", "region_features", "text_value_predictor", "multimodal_value_predictor",
            "slot_partition"} <= keys


def test_faster_rcnn_and_hub_style_encoder_through_the_assets(tmp_path):
    """The paper-profile paths: detector weights from a local file, BERT from a local
    save_pretrained directory passed where a hub name would go."""
    from models.regions import save_faster_rcnn
    from models.text import SmallBertConfig, build_char_encoder

    home = tmp_path / "home"
    weights = save_faster_rcnn(tmp_path / "frcnn.pth", num_classes=3)
    encoder_dir = tmp_path / "bert"
    build_char_encoder(["经典的红色连衣裙"], SmallBertConfig(hidden_size=16, num_attention_heads=2,
                                                            intermediate_size=32)).save_pretrained(encoder_dir)
    predictor = {**TINY_PREDICTOR, "encoder": str(encoder_dir), "seeds": [0]}
    config = run_config()
    config["ops"].update({
        "sample_sources": {"config": {"seed": 2, "scale": 0.05}},
        "region_features": {"config": {"kind": "faster_rcnn", "weights": str(weights), "top_l": 3,
                                       "min_size": 96, "max_size": 128}},
        "text_value_predictor": {"config": predictor},
        "multimodal_value_predictor": {"config": predictor},
    })
    result = dg.materialize([*SALIENCY_GRAPH, *saliency_checks], resources={"mavp_home": MavpHome(home=str(home))},
                            run_config=config)
    assert result.success
    meta = result.asset_materializations_for_node("region_features")[0].metadata
    assert meta["regions_per_image"].value == 3 and meta["feature_dim"].value == 1024
    assert meta["extractor"].value["kind"] == "faster_rcnn"
    runs = json.loads((home / "saliency" / "multimodal_value_predictor.json").read_text())["runs"]
    assert len(runs) == 1 and runs[0]["validation_instances"] > 0
