"""The saliency assets materialize in-process from an empty home and publish the partition."""

import json

import dagster as dg
import pandas as pd

from assets.definitions import defs
from assets.saliency import saliency_assets
from assets.categories import category_assets
from assets.sources import ifashion_images, mepave_image_records, mepave_records, sample_sources, source_assets
from assets.resources import MavpHome
from assets.saliency import read_partition, saliency_checks
from pipeline.schema import default_schema

SALIENCY_GRAPH = [sample_sources, ifashion_images, *source_assets, mepave_image_records, *category_assets,
                  *saliency_assets]
TINY_PREDICTOR = {"epochs": 1, "seeds": [0, 1], "hidden_size": 16, "num_heads": 2, "intermediate_size": 32,
                  "fusion_dim": 8}


def run_config():
    return {"ops": {
        "sample_sources": {"config": {"seed": 1, "scale": 0.2}},
        "region_backbone": {"config": {"image_size": 64}},        # the default: ImageNet weights, frozen
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


def _wordpiece_encoder(texts, folder):
    """A BERT of bert-base-chinese's kind, saved as the paper profile loads one: a WordPiece
    vocabulary (every CJK character its own token, ``##`` pieces for Latin words) and a small
    random BertModel, both through ``save_pretrained``."""
    from transformers import BertConfig, BertModel, BertTokenizer

    chars = sorted({c for t in texts for c in t if not c.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *[f"##{c}" for c in chars if c.isascii()]]
    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"), tokenize_chinese_chars=True)
    tokenizer.save_pretrained(folder)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64)).save_pretrained(folder)
    return folder


def test_real_mepave_lines_with_precomputed_features_and_a_wordpiece_bert(tmp_path, mepave_sample_dir):
    """The paper profile's path on real files: MEPAVE's own lines and ResNet features
    (``kind: precomputed``), an encoder loaded from a save_pretrained directory, whose word-piece
    tokens the value span is masked over."""
    from models.text import load_text_encoder, masked_token_ids

    texts = [line.split("\t")[2] for f in sorted(mepave_sample_dir.glob("jdai.jave.fashion.*"))
             for line in f.read_text(encoding="utf-8").splitlines() if line.count("\t") == 3]
    encoder_dir = _wordpiece_encoder(texts, tmp_path / "bert")
    tokenizer = load_text_encoder(encoder_dir).tokenizer
    ids, mask_at = masked_token_ids(tokenizer, "优雅的绒面材质", 3, 5, 20)      # the real line's 绒面 span
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "优", "雅", "的", "[MASK]", "材", "质", "[SEP]"]
    assert mask_at == 4

    home = MavpHome(home=str(tmp_path / "home"), profile="paper", mepave_dir=str(mepave_sample_dir),
                    mepave_images_dir=str(tmp_path / "no-images"))
    predictor = {**TINY_PREDICTOR, "encoder": str(encoder_dir), "text_warmup_epochs": 0}
    result = dg.materialize(
        [mepave_records, mepave_image_records, *category_assets,
         *[a for a in saliency_assets if a.key.path[-1] != "region_backbone"]],
        selection=["mepave_records", "mepave_image_records", "mepave_sentences", "region_features", "text_value_predictor",
                   "multimodal_value_predictor", "slot_partition"],
        resources={"mavp_home": home},
        run_config={"ops": {
            "region_features": {"config": {"kind": "precomputed",
                                           "precomputed_dir": str(mepave_sample_dir / "embedded")}},
            "text_value_predictor": {"config": predictor},
            "multimodal_value_predictor": {"config": predictor},
        }})
    assert result.success
    features = result.asset_materializations_for_node("region_features")[0].metadata
    assert features["feature_dim"].value == 2048 and features["regions_per_image"].value == 1
    runs = json.loads((tmp_path / "home" / "saliency" / "multimodal_value_predictor.json").read_text())["runs"]
    assert all(r["train_instances"] > 0 and r["validation_instances"] > 0 for r in runs)
    decided = pd.read_parquet(tmp_path / "home" / "saliency" / "slot_saliency.parquet")
    assert len(decided) == 25 and decided["support"].sum() == runs[0]["validation_instances"]
