"""Distant-supervision assets (MuJo-SF III-B2): one classifier asset per vision source, with
its Table I-IV as metadata, and ``slot_classifiers``: which checkpoint labels each image slot."""

import json

import dagster as dg
import pandas as pd

from assets.configs import run_config_class, to_settings
from assets.metadata import OWNERS, code_version, home_path, percent, table
from assets.resources import MavpHome
from assets.saliency import CPU_HEAVY, backbone_overrides, read_partition, region_backbone, slot_partition
from assets.sources import records_assets
from pipeline.distant.config import DEFAULT_SLOT_CLASSIFIERS
from pipeline.distant.report import source_markdown, task_rows, tasks_above_chance
from pipeline.distant.selection import (READY, choose_slot_classifiers, format_choice, parse_choice,
                                        write_slot_classifiers)
from pipeline.home import HomeLayout
from pipeline.saliency.config import RegionConfig
from pipeline.io import atomic_path, write_json, write_parquet
from pipeline.schema import default_schema
from pipeline.sources.registry import SourceSpec, vision_sources

GROUP = "distant_supervision"
TAGS = {"mavp/stage": "distant_supervision"}


def _classifier_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    source, settings = spec.kind, spec.training
    config_class = run_config_class(f"{settings.__name__}Config", settings, settings.__doc__ or "", f"{source}_classifier")

    @dg.asset(name=f"{source}_classifier", group_name=GROUP, deps=[records_assets[source], region_backbone], op_tags=CPU_HEAVY,
              kinds={"pytorch", "timm"}, owners=OWNERS, tags={**TAGS, "mavp/source": source},
              code_version=code_version("pipeline/distant", "models/attributes.py", "models/backbones.py",
                                        "models/probe.py", "models/augment.py", "models/training.py"),
              description=f"Attribute classifiers on {source} with the paper's strategies; {spec.paper_table}. "
                          "Sample profile: linear heads over the frozen region backbone (ImageNet EfficientNet-Lite0, "
                          "192 px) on augmented views; kind finetune: a whole Swin on pixels.")
    def _asset(context: dg.AssetExecutionContext, config: config_class, mavp_home: MavpHome) -> dg.MaterializeResult:
        from pipeline.distant.strategies import train_source   # torch: imported only where it trains

        layout = mavp_home.layout
        training = to_settings(config, settings)
        probe = training.kind == "grid_probe"
        backbone = RegionConfig(**backbone_overrides(layout)) if probe else None
        cache = layout.cache("features" if probe else "pixels")
        if training.processes > 1:
            from pipeline.distant.torchrun import train_source_torchrun

            context.log.info(f"{source}: training under torchrun with {training.processes} processes")
            record = train_source_torchrun(source, layout.table(spec.table), training, layout.models("distant"),
                                           cache, backbone)
        else:
            record = train_source(source, pd.read_parquet(layout.table(spec.table)), training,
                                  layout.models("distant"), cache, backbone)
        context.log.info(f"{source}: {'reused' if record['reused'] else 'trained'} {len(record['models'])} model(s)")
        write_json({k: v for k, v in record.items() if k != "reused"}, layout.distant_record(source))
        with atomic_path(layout.distant_table(source)) as tmp:
            tmp.write_text(source_markdown(record) + "\n", encoding="utf-8")
        rejects = pd.read_parquet(record["rejects_path"])
        write_parquet(rejects, layout.rejects(f"{source}_classifier"))
        return dg.MaterializeResult(metadata={
            spec.paper_table: table(task_rows(record)),
            "above_chance": table(_chance_rows(tasks_above_chance(record)), CHANCE_COLUMNS),
            "models": table(_model_rows(record)),
            "image_rejects": int(len(rejects)),
            "seconds": round(sum(m["seconds"] for m in record["models"]), 1),
            "device": record["device"],
            "reused": record["reused"],
            "dir": home_path(layout, record["dir"]),
        })

    return _asset


def _model_rows(record: dict) -> pd.DataFrame:
    """One row per model: its cost, and its validation curve (mean validation accuracy over its
    tasks after each epoch; training stops after ``patience`` epochs without a better one and
    keeps the best)."""
    rows = []
    for m in record["models"]:
        curve = [h["val_score"] for h in m.get("history", []) if "val_score" in h]
        rows.append({"model": m["name"], "epochs": m["epochs"],
                     "best epoch": int(max(range(len(curve)), key=curve.__getitem__)) + 1 if curve else None,
                     "validation curve": " ".join(f"{v:.2f}" for v in curve), "seconds": round(m["seconds"], 1),
                     "train img/s": round(m["train_images_per_second"], 1),
                     "infer img/s": round(m["inference_images_per_second"], 1)})
    return pd.DataFrame(rows)


CHANCE_COLUMNS = {"n": "test images of the task", "test %": "the task's best test accuracy",
                  "low %": "lower end of its 95% Wilson interval",
                  "chance %": "always answering the training split's most frequent class",
                  "ok": "low % above chance %"}


def _chance_rows(scored: pd.DataFrame) -> pd.DataFrame:
    shown = percent(scored, ["test_accuracy", "wilson_lower", "majority_baseline"])
    return shown.rename(columns={"test_images": "n", "test_accuracy": "test %", "wilson_lower": "low %",
                                 "majority_baseline": "chance %", "clearly_above": "ok", "model": "best model"})


def _classifier_check(asset_def: dg.AssetsDefinition, source: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset_def, name="tasks_above_chance", blocking=False,
                    description="Warns when a task's best test accuracy is not clearly above chance: the lower "
                                "end of its 95% Wilson interval must exceed the accuracy of always answering the "
                                "training split's most frequent class. Lists the tasks that fail.")
    def _check(mavp_home: MavpHome) -> dg.AssetCheckResult:
        record = json.loads(mavp_home.layout.distant_record(source).read_text(encoding="utf-8"))
        scored = tasks_above_chance(record)
        weak = scored[~scored["clearly_above"]]
        return dg.AssetCheckResult(passed=weak.empty, severity=dg.AssetCheckSeverity.WARN,
                                   description=f"{len(scored) - len(weak)}/{len(scored)} tasks clearly above chance",
                                   metadata={"weak_tasks": dg.MetadataValue.json(weak["task"].tolist()),
                                             "tasks": table(_chance_rows(scored), CHANCE_COLUMNS)})

    return _check


classifier_assets = [_classifier_asset(spec) for spec in vision_sources()]
classifier_checks = [_classifier_check(a, spec.kind) for a, spec in zip(classifier_assets, vision_sources())]


class SlotClassifiersConfig(dg.Config):
    """One entry per image slot: ``slot=source:task[+task...][:strategy]``; strategy ``best``
    takes the trained model with the highest validation accuracy on those tasks."""

    choices: list[str] = [format_choice(c) for c in DEFAULT_SLOT_CLASSIFIERS]


def read_source_records(layout: HomeLayout) -> dict[str, dict]:
    return {source: json.loads(layout.distant_record(source).read_text(encoding="utf-8"))
            for source in (s.kind for s in vision_sources()) if layout.distant_record(source).is_file()}


@dg.asset(group_name=GROUP, deps=[*classifier_assets, slot_partition], kinds={"python", "json"}, owners=OWNERS,
          tags=TAGS, code_version=code_version("pipeline/distant/selection.py", "pipeline/distant/config.py"),
          description="For each image slot of the computed partition: the checkpoint that labels it, its "
                      "label -> value map and its measured accuracy. Labeling reads this.")
def slot_classifiers(context: dg.AssetExecutionContext, config: SlotClassifiersConfig,
                     mavp_home: MavpHome) -> dg.MaterializeResult:
    layout = mavp_home.layout
    image_slots = read_partition(mavp_home)["image"]
    chosen = choose_slot_classifiers(read_source_records(layout), [parse_choice(c) for c in config.choices],
                                     image_slots, default_schema())
    path = write_slot_classifiers(chosen, layout.slot_classifiers)
    shown = percent(chosen[["slot", "status", "source", "model", "validation_accuracy", "test_accuracy"]],
                    ["validation_accuracy", "test_accuracy"])
    return dg.MaterializeResult(metadata={
        "slot_classifiers": table(shown.rename(columns={"validation_accuracy": "val %", "test_accuracy": "test %"})),
        "ready": int((chosen["status"] == READY).sum()),
        "image_slots": len(image_slots),
        "path": home_path(layout, path),
    })


@dg.asset_check(asset=slot_classifiers, blocking=True,
                description="Every image slot of the partition has a trained classifier.")
def every_image_slot_has_classifier(mavp_home: MavpHome) -> dg.AssetCheckResult:
    chosen = pd.DataFrame(json.loads(mavp_home.layout.slot_classifiers.read_text(encoding="utf-8"))["slots"])
    missing = chosen.loc[chosen["status"] != READY, ["slot", "status"]]
    return dg.AssetCheckResult(passed=missing.empty, metadata={"missing": table(missing)})


distant_assets = [*classifier_assets, slot_classifiers]
distant_checks = [*classifier_checks, every_image_slot_has_classifier]
