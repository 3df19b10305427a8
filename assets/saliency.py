"""Saliency assets (MuJo-SF III-B1): region features, the two masked value predictors, and the
slot partition that every later stage reads."""


import base64
import json
from dataclasses import asdict

import dagster as dg
import pandas as pd

from assets.configs import run_config_class, to_settings
from assets.resources import MavpHome
from assets.sources import mepave_image_records, mepave_records, source_assets, table_path
from pipeline.io import write_json, write_parquet
from pipeline.reporting import counts_markdown, markdown_table
from pipeline.saliency.config import BackbonePretrainConfig, PredictorConfig, RegionConfig
from pipeline.saliency.report import saliency_chart, slot_markdown
from pipeline.saliency.scoring import MEASURED, PartitionRule, decide, partition, slot_table
from pipeline.schema import default_schema

# The torch-side modules (torch, timm, transformers, torchvision: ~4 s to import) are imported
# inside the assets that train or extract, so that every other step's subprocess, and the code
# location itself, start fast.

GROUP = "saliency"
#: Torch steps use every core; the executor runs at most one step with this tag at a time.
CPU_HEAVY = {"mavp/resource": "cpu-heavy"}
VISION_KINDS = ("fashionai", "utzap50k", "ifashion", "crawl")
#: P^M this many points below P^T over all validation instances means the fusion did not train.
MAX_MULTIMODAL_GAP = 15.0


def saliency_path(mavp_home: MavpHome, *parts: str):
    return mavp_home.path("saliency", *parts)


RegionBackboneConfig = run_config_class(
    "RegionBackboneConfig", BackbonePretrainConfig,
    "Pretraining of the grid backbone on the labelled vision sources (grid features only).")
RegionFeaturesConfig = run_config_class(
    "RegionFeaturesConfig", RegionConfig,
    "Which extractor gives U: grid (default), faster_rcnn or precomputed. For grid with no "
    "weights, the region_backbone output is used, with its backbone and image size.")
MaskedValuePredictorConfig = run_config_class(
    "MaskedValuePredictorConfig", PredictorConfig,
    "Shared by both predictors so that they differ only in the image input.")


SlotPartitionConfig = run_config_class(
    "SlotPartitionConfig", PartitionRule,
    "lam: the paper's lambda in percentage points; slots with fewer than min_support validation "
    "instances, or whose dif +- z*SE interval contains lam, take the fallback decision.")


@dg.asset(group_name=GROUP, deps=[a for a in source_assets if a.key.path[-1] != "mepave_records"], op_tags=CPU_HEAVY,
          description="Small image backbone pretrained on the vision sources' attribute labels, "
                      "frozen for grid region features.")
def region_backbone(context: dg.AssetExecutionContext, config: RegionBackboneConfig,
                    mavp_home: MavpHome) -> dg.MaterializeResult:
    from pipeline.saliency.stage import pretrained_backbone

    tables = [pd.read_parquet(table_path(mavp_home, f"{kind}_records")) for kind in VISION_KINDS]
    weights, info = pretrained_backbone(tables, default_schema(), to_settings(config, BackbonePretrainConfig),
                                        mavp_home.path("models", "region_backbone"))
    write_json({"weights": str(weights), **info}, saliency_path(mavp_home, "region_backbone.json"))
    context.log.info(("reused" if info["reused"] else "trained") + f" backbone {weights}")
    acc = info.get("holdout_accuracy_by_slot", {})
    return dg.MaterializeResult(metadata={
        "weights": dg.MetadataValue.path(str(weights)),
        "reused": info["reused"],
        "examples": info["examples"],
        "holdout_accuracy_by_slot": dg.MetadataValue.md(counts_markdown(acc, "slot", "accuracy")),
        "training_seconds": info["seconds"],
        "images_per_second": info["images_per_second"],
    })


@dg.asset(group_name=GROUP, deps=[mepave_image_records, region_backbone], op_tags=CPU_HEAVY,
          description="Region features U (l x d_U) of every MEPAVE product image, cached by image hash.")
def region_features(context: dg.AssetExecutionContext, config: RegionFeaturesConfig,
                    mavp_home: MavpHome) -> dg.MaterializeResult:
    from pipeline.saliency.regions import region_features as extract_region_features

    images = pd.read_parquet(table_path(mavp_home, "mepave_image_records"))
    overrides = {}
    if config.kind == "grid" and config.weights is None:
        trained = json.loads(saliency_path(mavp_home, "region_backbone.json").read_text(encoding="utf-8"))
        overrides = {"weights": trained["weights"], "backbone": trained["config"]["backbone"],
                     "image_size": trained["config"]["image_size"]}
    region_config = to_settings(config, RegionConfig, **overrides)
    table, rejects = extract_region_features(images, region_config, mavp_home.path("cache", "regions"))
    path = table.save(saliency_path(mavp_home, "region_features.npz"))
    rejects_path = write_parquet(rejects, mavp_home.path("rejects", "region_features.parquet"))
    context.log.info(f"region features: {table.stats}")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(table.cids),
        "regions_per_image": int(table.features.shape[1]),
        "feature_dim": table.dim,
        "extractor": dg.MetadataValue.json(table.config),
        "cache": dg.MetadataValue.json(table.stats),
        "rejected": len(rejects),
        "path": dg.MetadataValue.path(str(path)),
        "rejects_path": dg.MetadataValue.path(str(rejects_path)),
    })


def _predictor_asset(mode: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=f"{mode}_value_predictor", group_name=GROUP, deps=[mepave_records, region_features],
              description=description, op_tags=CPU_HEAVY)
    def _asset(context: dg.AssetExecutionContext, config: MaskedValuePredictorConfig,
               mavp_home: MavpHome) -> dg.MaterializeResult:
        from pipeline.saliency.regions import RegionTable
        from pipeline.saliency.stage import predictions, saliency_instances

        schema = default_schema()
        records = pd.read_parquet(table_path(mavp_home, "mepave_records"))
        regions = RegionTable.load(saliency_path(mavp_home, "region_features.npz"))
        instances, full = saliency_instances(records, regions, schema)
        write_parquet(full.rejects, mavp_home.path("rejects", "saliency_instances.parquet"))
        preds, info = predictions(mode, instances, regions, schema, to_settings(config, PredictorConfig),
                                  mavp_home.path("models", "saliency"))
        write_json({"predictions": f"{info['dir']}/predictions.parquet", **info},
                   saliency_path(mavp_home, f"{mode}_value_predictor.json"))
        per_slot = (preds.groupby("slot")["correct"].mean() * 100).round(1).sort_values(ascending=False)
        runs = pd.DataFrame(info["runs"])
        return dg.MaterializeResult(metadata={
            "reused": info["reused"],
            "checkpoints": dg.MetadataValue.path(info["dir"]),
            "instances": dg.MetadataValue.json(full.stats),
            "rejected_instances": len(full.rejects),
            "runs": dg.MetadataValue.md(markdown_table(runs, max_rows=len(runs))),
            "validation_accuracy_by_slot": dg.MetadataValue.md(
                counts_markdown(per_slot.to_dict(), "slot", "accuracy %")),
            "validation_accuracy": round(float(preds["correct"].mean() * 100), 2) if len(preds) else 0.0,
        })

    return _asset


text_value_predictor = _predictor_asset(
    "text", "BERT masked value predictor on text only (P^T), trained per seed; validation predictions.")
multimodal_value_predictor = _predictor_asset(
    "multimodal", "BERT + region features fused by eqs. (1)-(3) (P^M), trained per seed; validation predictions.")


def _png_markdown(path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f"![saliency](data:image/png;base64,{encoded})"


@dg.asset(group_name=GROUP, deps=[text_value_predictor, multimodal_value_predictor],
          description="Image- vs text-dependent slots from dif = a_M - a_T against lambda (paper: 9).")
def slot_partition(context: dg.AssetExecutionContext, config: SlotPartitionConfig,
                   mavp_home: MavpHome) -> dg.MaterializeResult:
    schema = default_schema()
    rule = to_settings(config, PartitionRule)
    frames = []
    for mode in ("text", "multimodal"):
        info = json.loads(saliency_path(mavp_home, f"{mode}_value_predictor.json").read_text(encoding="utf-8"))
        frames.append(pd.read_parquet(info["predictions"]))
    decided = decide(slot_table(pd.concat(frames, ignore_index=True), schema.slot_keys), rule,
                     schema.paper_partition())
    parts = partition(decided)
    table = write_parquet(decided, saliency_path(mavp_home, "slot_saliency.parquet"))
    chart = saliency_chart(decided, rule, saliency_path(mavp_home, "saliency.png"))
    doc = {"rule": asdict(rule), "partition": parts,
           "slots": json.loads(decided.to_json(orient="records", force_ascii=False)),
           "agrees_with_paper": int(decided["agrees"].sum()), "slots_total": int(len(decided))}
    path = write_json(doc, saliency_path(mavp_home, "partition.json"))
    measured = int((decided["basis"] == MEASURED).sum())
    disagree = decided.loc[~decided["agrees"], "slot"].tolist()
    context.log.info(f"image slots: {parts['image']}; disagree with paper: {disagree}")
    return dg.MaterializeResult(metadata={
        "image_slots": dg.MetadataValue.json(parts["image"]),
        "text_slots": dg.MetadataValue.json(parts["text"]),
        "agrees_with_paper": f"{int(decided['agrees'].sum())}/{len(decided)}",
        "disagreements": dg.MetadataValue.json(disagree),
        "decided_by_measurement": f"{measured}/{len(decided)}",
        "per_slot": dg.MetadataValue.md(slot_markdown(decided)),
        "chart": dg.MetadataValue.md(_png_markdown(chart)),
        "chart_path": dg.MetadataValue.path(str(chart)),
        "partition_path": dg.MetadataValue.path(str(path)),
        "table_path": dg.MetadataValue.path(str(table)),
    })


@dg.asset_check(asset=slot_partition, name="every_slot_decided", blocking=True,
                description="Every schema slot is in exactly one of the image and text sets.")
def every_slot_decided(mavp_home: MavpHome) -> dg.AssetCheckResult:
    doc = json.loads(saliency_path(mavp_home, "partition.json").read_text(encoding="utf-8"))
    image, text = set(doc["partition"]["image"]), set(doc["partition"]["text"])
    slots = set(default_schema().slot_keys)
    passed = not (image & text) and (image | text) == slots
    return dg.AssetCheckResult(passed=passed, metadata={"image": len(image), "text": len(text),
                                                        "missing": sorted(slots - image - text)})


@dg.asset_check(asset=slot_partition, name="multimodal_keeps_text_evidence", blocking=False,
                description="Warns when P^M is far below P^T over all validation instances: eq. (3) gates "
                            "the text through the image, and a fusion that failed to train makes every "
                            "slot look text-dependent.")
def multimodal_keeps_text_evidence(mavp_home: MavpHome) -> dg.AssetCheckResult:
    accuracy = {}
    for mode in ("text", "multimodal"):
        info = json.loads(saliency_path(mavp_home, f"{mode}_value_predictor.json").read_text(encoding="utf-8"))
        accuracy[mode] = float(pd.read_parquet(info["predictions"], columns=["correct"])["correct"].mean() * 100)
    gap = accuracy["text"] - accuracy["multimodal"]
    return dg.AssetCheckResult(passed=gap <= MAX_MULTIMODAL_GAP, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"a_T_all": round(accuracy["text"], 2),
                                         "a_M_all": round(accuracy["multimodal"], 2),
                                         "gap_pp": round(gap, 2), "max_gap_pp": MAX_MULTIMODAL_GAP})


saliency_assets = [region_backbone, region_features, text_value_predictor, multimodal_value_predictor,
                   slot_partition]
saliency_checks = [every_slot_decided, multimodal_keeps_text_evidence]


def read_partition(mavp_home: MavpHome) -> dict[str, list[str]]:
    """What downstream assets use: the computed partition."""
    return json.loads(saliency_path(mavp_home, "partition.json").read_text(encoding="utf-8"))["partition"]
