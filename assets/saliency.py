"""Saliency assets (MuJo-SF III-B1): region features, the two masked value predictors, and the
slot partition that every later stage reads."""


import base64
import json
from dataclasses import asdict
from typing import Optional

import dagster as dg
import pandas as pd

from assets.resources import MavpHome
from assets.sources import mepave_image_records, mepave_records, source_assets, table_path
from pipeline.io import write_json, write_parquet
from pipeline.reporting import counts_markdown, markdown_table
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


class RegionBackboneConfig(dg.Config):
    """Pretraining of the grid backbone on the labelled vision sources (grid features only)."""

    backbone: str = "mavp_cnn"
    image_size: int = 64
    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3
    max_per_slot: Optional[int] = 400
    pooling: str = "mean"
    seed: int = 0


class RegionFeaturesConfig(dg.Config):
    """Which extractor gives U: ``grid`` (default), ``faster_rcnn`` or ``precomputed``."""

    kind: str = "grid"
    image_size: int = 64
    detector: str = "fasterrcnn_resnet50_fpn"
    top_l: int = 10
    min_size: int = 800
    max_size: int = 1333
    weights: Optional[str] = None       # local weights file; grid default: the region_backbone output
    precomputed_dir: Optional[str] = None
    precomputed_array: str = "imgs.embeddedG.npy"


class MaskedValuePredictorConfig(dg.Config):
    """Shared by both predictors so they differ only in the image input."""

    encoder: Optional[str] = None       # hub name or save_pretrained dir; None: small char BERT
    hidden_size: int = 64
    num_layers: int = 1
    num_heads: int = 4
    intermediate_size: int = 128
    fusion_dim: int = 64
    dropout: float = 0.1
    token_dropout: float = 0.1
    region_dropout: float = 0.0
    text_warmup_epochs: int = 8
    max_length: int = 20
    epochs: int = 32
    batch_size: int = 128
    lr: float = 4e-3
    weight_decay: float = 0.01
    dev_fraction: float = 0.0
    patience: int = 3
    seeds: list[int] = [0, 1, 2]

    def predictor_config(self):
        from pipeline.saliency.predict import PredictorConfig

        fields = self.model_dump()
        fields["seeds"] = tuple(fields["seeds"])
        return PredictorConfig(**fields)


class SlotPartitionConfig(dg.Config):
    lam: float = 9.0
    min_support: int = 5
    z: float = 1.96
    fallback: str = "reference"


@dg.asset(group_name=GROUP, deps=[a for a in source_assets if a.key.path[-1] != "mepave_records"], op_tags=CPU_HEAVY,
          description="Small image backbone pretrained on the vision sources' attribute labels, "
                      "frozen for grid region features.")
def region_backbone(context: dg.AssetExecutionContext, config: RegionBackboneConfig,
                    mavp_home: MavpHome) -> dg.MaterializeResult:
    from pipeline.saliency.backbone import BackbonePretrainConfig
    from pipeline.saliency.stage import pretrained_backbone

    tables = [pd.read_parquet(table_path(mavp_home, f"{kind}_records")) for kind in VISION_KINDS]
    weights, info = pretrained_backbone(tables, default_schema(), BackbonePretrainConfig(**config.model_dump()),
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
    from pipeline.saliency.regions import RegionConfig, region_features as extract_region_features

    images = pd.read_parquet(table_path(mavp_home, "mepave_image_records"))
    weights = config.weights
    if config.kind == "grid" and weights is None:
        weights = json.loads(saliency_path(mavp_home, "region_backbone.json").read_text(encoding="utf-8"))["weights"]
    region_config = RegionConfig(kind=config.kind, image_size=config.image_size, detector=config.detector,
                                 top_l=config.top_l, min_size=config.min_size, max_size=config.max_size,
                                 weights=weights, precomputed_dir=config.precomputed_dir,
                                 precomputed_array=config.precomputed_array)
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
        preds, info = predictions(mode, instances, regions, schema, config.predictor_config(),
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
    rule = PartitionRule(lam=config.lam, min_support=config.min_support, z=config.z, fallback=config.fallback)
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
