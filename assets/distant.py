"""Distant-supervision assets (MuJo-SF III-B2): one classifier asset per vision source, with
its Table I-IV as metadata, and ``slot_classifiers``: which checkpoint labels each image slot."""

import json

import dagster as dg
import pandas as pd

from assets.configs import run_config_class, to_settings
from assets.resources import MavpHome
from assets.saliency import CPU_HEAVY, read_partition, slot_partition
from assets.sources import source_assets, table_path
from pipeline.distant.config import (DEFAULT_SLOT_CLASSIFIERS, CrawlTraining, FashionAITraining, IFashionTraining,
                                     UTZap50kTraining)
from pipeline.distant.report import source_markdown
from pipeline.distant.selection import (READY, choose_slot_classifiers, format_choice, parse_choice,
                                        write_slot_classifiers)
from pipeline.io import atomic_path, write_json, write_parquet
from pipeline.reporting import markdown_table
from pipeline.schema import default_schema

GROUP = "distant_supervision"
TRAINING = {"fashionai": FashionAITraining, "utzap50k": UTZap50kTraining, "ifashion": IFashionTraining,
            "crawl": CrawlTraining}
TABLE_NAMES = {"fashionai": "Table I (FashionAI)", "utzap50k": "Table II (UT-ZAP50K)",
               "ifashion": "Table III (iFashion)", "crawl": "Table IV (crawled images)"}


def distant_path(mavp_home: MavpHome, *parts: str):
    return mavp_home.path("distant", *parts)


def _classifier_asset(source: str) -> dg.AssetsDefinition:
    settings = TRAINING[source]
    config_class = run_config_class(f"{settings.__name__}Config", settings, settings.__doc__ or "")
    records_asset = next(a for a in source_assets if a.key.path[-1] == f"{source}_records")

    @dg.asset(name=f"{source}_classifier", group_name=GROUP, deps=[records_asset], op_tags=CPU_HEAVY,
              description=f"Swin attribute classifiers on {source} with the paper's strategies; {TABLE_NAMES[source]}.")
    def _asset(context: dg.AssetExecutionContext, config: config_class, mavp_home: MavpHome) -> dg.MaterializeResult:
        from pipeline.distant.strategies import train_source   # torch: imported only where it trains

        table = pd.read_parquet(table_path(mavp_home, f"{source}_records"))
        record = train_source(source, table, to_settings(config, settings), mavp_home.path("models", "distant"),
                              mavp_home.path("cache", "pixels"))
        context.log.info(f"{source}: {'reused' if record['reused'] else 'trained'} {len(record['models'])} model(s)")
        write_json({k: v for k, v in record.items() if k != "reused"}, distant_path(mavp_home, f"{source}.json"))
        markdown = source_markdown(record)
        with atomic_path(distant_path(mavp_home, f"{source}.md")) as tmp:
            tmp.write_text(markdown + "\n", encoding="utf-8")
        rejects = pd.read_parquet(record["rejects_path"])
        write_parquet(rejects, mavp_home.path("rejects", f"{source}_classifier.parquet"))
        checkpoints = {m["name"]: dg.MetadataValue.path(m["path"]) for m in record["models"]}
        return dg.MaterializeResult(metadata={
            "table": dg.MetadataValue.md(markdown),
            "results": dg.MetadataValue.md(markdown_table(pd.DataFrame(record["results"]).drop(columns="checkpoint"),
                                                          max_rows=50)),
            "models": len(record["models"]),
            **{f"checkpoint/{name}": path for name, path in checkpoints.items()},
            "image_rejects": int(len(rejects)),
            "seconds": round(sum(m["seconds"] for m in record["models"]), 1),
            "train_images_per_second": dg.MetadataValue.json({m["name"]: m["train_images_per_second"] for m in record["models"]}),
            "inference_images_per_second": dg.MetadataValue.json({m["name"]: m["inference_images_per_second"] for m in record["models"]}),
            "device": record["device"],
            "reused": record["reused"],
            "dir": dg.MetadataValue.path(record["dir"]),
        })

    return _asset


classifier_assets = [_classifier_asset(source) for source in TRAINING]


class SlotClassifiersConfig(dg.Config):
    """One entry per image slot: ``slot=source:task[+task...][:strategy]``; strategy ``best``
    takes the trained model with the highest validation accuracy on those tasks."""

    choices: list[str] = [format_choice(c) for c in DEFAULT_SLOT_CLASSIFIERS]


def read_source_records(mavp_home: MavpHome) -> dict[str, dict]:
    return {source: json.loads(distant_path(mavp_home, f"{source}.json").read_text(encoding="utf-8"))
            for source in TRAINING if distant_path(mavp_home, f"{source}.json").is_file()}


@dg.asset(group_name=GROUP, deps=[*classifier_assets, slot_partition],
          description="For each image slot of the computed partition: the checkpoint that labels it, its "
                      "label -> value map and its measured accuracy. Labeling reads this.")
def slot_classifiers(context: dg.AssetExecutionContext, config: SlotClassifiersConfig,
                     mavp_home: MavpHome) -> dg.MaterializeResult:
    image_slots = read_partition(mavp_home)["image"]
    table = choose_slot_classifiers(read_source_records(mavp_home), [parse_choice(c) for c in config.choices],
                                    image_slots, default_schema())
    path = write_slot_classifiers(table, distant_path(mavp_home, "slot_classifiers.json"))
    shown = table[["slot", "status", "source", "strategy", "model", "validation_accuracy", "test_accuracy"]]
    return dg.MaterializeResult(metadata={
        "slot_classifiers": dg.MetadataValue.md(markdown_table(shown, max_rows=len(shown))),
        "ready": int((table["status"] == READY).sum()),
        "image_slots": len(image_slots),
        "path": dg.MetadataValue.path(str(path)),
    })


@dg.asset_check(asset=slot_classifiers, blocking=True,
                description="Every image slot of the partition has a trained classifier.")
def every_image_slot_has_classifier(mavp_home: MavpHome) -> dg.AssetCheckResult:
    table = pd.DataFrame(json.loads(distant_path(mavp_home, "slot_classifiers.json").read_text(encoding="utf-8"))["slots"])
    missing = table.loc[table["status"] != READY, ["slot", "status"]]
    return dg.AssetCheckResult(passed=missing.empty, metadata={"missing": dg.MetadataValue.md(markdown_table(missing))})


distant_assets = [*classifier_assets, slot_classifiers]
distant_checks = [every_image_slot_has_classifier]
