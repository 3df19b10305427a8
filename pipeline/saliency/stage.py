"""The saliency stage's steps with their content-keyed reuse, for the Dagster assets and the
benchmark. Each step writes under a folder named by a hash of everything it depends on
(input contents and config), so a rerun with nothing changed reads instead of recomputing."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from pipeline.io import content_key, write_json, write_parquet
from pipeline.records import ReadResult
from pipeline.saliency.backbone import (BackbonePretrainConfig, initial_backbone, pretrain_grid_backbone,
                                        pretraining_examples, save_backbone, select_examples, training_key,
                                        weights_digest)
from pipeline.saliency.instances import ValueVocabulary, masked_instances
from pipeline.saliency.predict import PredictorConfig, run_predictors
from pipeline.saliency.regions import RegionTable
from pipeline.schema import Schema


def pretrained_backbone(vision_tables: Sequence[pd.DataFrame], schema: Schema, config: BackbonePretrainConfig,
                        models_dir: Path) -> tuple[Path, dict]:
    """The grid backbone's weights for these sources and config, made only when missing: as
    loaded (``epochs == 0``) or trained on the vision sources' labels first."""
    t0 = time.perf_counter()
    if config.epochs == 0:
        key, examples = content_key(asdict(config), weights_digest(config)), None
    else:
        examples = select_examples(pretraining_examples(vision_tables, schema), config)
        key = training_key(examples, config)
    weights = models_dir / key / "backbone.pt"
    info_path = models_dir / key / "training.json"
    if weights.is_file() and info_path.is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        return weights, {**info, "reused": True, "key": key}
    if examples is None:
        save_backbone(initial_backbone(config), weights)
        info = {"trained_on_sources": False, "seconds": round(time.perf_counter() - t0, 2)}
    else:
        info = {"trained_on_sources": True, **pretrain_grid_backbone(examples, schema, config, weights)}
    info["config"] = asdict(config)
    write_json(info, info_path)
    return weights, {**info, "reused": False, "key": key}


def saliency_instances(records: pd.DataFrame, regions: RegionTable, schema: Schema) -> tuple[pd.DataFrame, ReadResult]:
    """Masked-value instances of products that have region features (the same set for both
    predictors); the full instance result (rejects, stats) comes back too."""
    result = masked_instances(records, schema)
    have = set(regions.cids)
    usable = result.valid[result.valid["cid"].isin(have)].reset_index(drop=True)
    result.stats["instances_without_region_features"] = int(len(result.valid) - len(usable))
    result.stats["usable_by_split"] = usable["split"].value_counts().to_dict()
    return usable, result


def predictions(mode: str, instances: pd.DataFrame, regions: RegionTable, schema: Schema,
                config: PredictorConfig, out_root: Path) -> tuple[pd.DataFrame, dict]:
    """Validation predictions of every seed of one predictor, trained only when missing."""
    num_values = len(ValueVocabulary.from_schema(schema))
    region_part = (regions.features, regions.mask, np.asarray(regions.cids)) if mode == "multimodal" else ()
    key = content_key(mode, asdict(config), num_values,
                instances[["cid", "sid", "split", "slot", "value_id", "text", "start", "end"]], *region_part)
    folder = out_root / mode / key
    table, info_path = folder / "predictions.parquet", folder / "runs.json"
    if table.is_file() and info_path.is_file():
        runs = json.loads(info_path.read_text(encoding="utf-8"))
        return pd.read_parquet(table), {"runs": runs, "reused": True, "dir": str(folder), "key": key}
    preds, runs = run_predictors(mode, instances, regions, num_values, config, save_root=folder)
    write_parquet(preds, table)
    write_json(runs, info_path)
    return preds, {"runs": runs, "reused": False, "dir": str(folder), "key": key}
