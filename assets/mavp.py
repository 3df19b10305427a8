"""The product: distant labels of MEPAVE images, and the ``mavp`` dataset asset with its checks,
plus the job, weekly schedule and source-change sensor that rebuild it."""

import hashlib
import json
import os
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from assets.configs import run_config_class, to_settings
from assets.distant import slot_classifiers
from assets.metadata import (OWNERS, code_version, column_schema, home_path, inline_figure, percent, publish_figure,
                             table)
from assets.partitions import SHARDS, part_file, part_files, read_parts, step_shard
from assets.resources import MavpHome
from assets.saliency import CPU_HEAVY, SENTENCES, read_partition, region_features, slot_partition
from assets.sources import ifashion_images, mepave_image_records
from pipeline.distant.selection import read_slot_classifiers
from pipeline.home import HomeLayout
from pipeline.io import content_key, file_sha256, write_json, write_parquet
from pipeline.mavp.build import AssemblyConfig, BuildInputs, build_dataset, json_safe
from pipeline.mavp.labeling import (LabelConfig, labeling_key, load_predictions, merge_predictions,
                                    predictions_index)
from pipeline.mavp.text_values import text_values
from pipeline.mavp.publish import publish, split_files
from pipeline.mavp.quality import labels_against_majority
from pipeline.schema import Schema, default_schema
from pipeline.shards import shard_mask
from pipeline.sources.registry import vision_sources
from pipeline.splits import SPLITS

GROUP = "mavp"
TAGS = {"mavp/stage": "mavp"}
REPORT_FIGURES = {"table_vi.png": "Table VI: relative and truth accuracy per image slot",
                  "risk_coverage.png": "risk-coverage of the image labels' reliability",
                  "values.png": "values per slot", "saliency.png": "Fig. 3: saliency per slot"}


def report_figures(image_slots) -> dict[str, str]:
    """Every figure of the quality report: the fixed ones, then a contact sheet per image slot."""
    return {**REPORT_FIGURES, **{f"contact_{s}.png": f"the 16 least reliable {s} labels" for s in sorted(image_slots)}}


def _products(layout: HomeLayout) -> pd.DataFrame:
    records = pd.read_parquet(layout.table("mepave_sentences"), columns=["cid", "category"])
    return records.drop_duplicates("cid").astype(str).reset_index(drop=True)


LABEL_COLUMNS = {"cid": "product", "slot": "image slot (English key)", "value": "label mapped to the MAVP value",
                 "confidence": "calibrated probability of the value (after adaptation)",
                 "reliability": "0-1: mean of the probability, the neighbour agreement and, where a sentence "
                                "names the value, the text's agreement",
                 "neighbour_agreement": "share of the 10 nearest products (classifier embedding) with this label",
                 "text_value": "the value the product's sentences name, if any",
                 "source_value": "the source classifier's value before adaptation",
                 "source": "image, or none", "reason": "why no image label (none)"}


LabelingConfig = run_config_class("LabelingConfig", LabelConfig,
                                  "folds: K of the text-anchored adaptation, cross-fitted over products (0: the "
                                  "source classifiers only); neighbours: K of the visual-neighbour agreement.",
                                  "mepave_image_labels")


def _text_values(layout: HomeLayout) -> pd.DataFrame:
    return text_values(pd.read_parquet(layout.table("mepave_sentences")), default_schema()).valid


@dg.asset(group_name=GROUP, deps=[mepave_image_records, slot_classifiers], partitions_def=SHARDS,
          op_tags=CPU_HEAVY, kinds={"pytorch", "numpy"}, owners=OWNERS, tags=TAGS,
          code_version=code_version("pipeline/mavp/labeling.py", "pipeline/distant/features.py", "pipeline/pixels.py",
                                    "pipeline/shards.py"),
          description="Every MEPAVE product image decoded, read by each chosen classifier and scored, plain and "
                      "mirrored: calibrated value probabilities and embeddings per slot. Data-parallel: with "
                      "shards, each partition scores the products whose cid hashes into it. Reused while the "
                      "images and checkpoints stay.")
def mepave_image_predictions(context: dg.AssetExecutionContext, mavp_home: MavpHome) -> dg.MaterializeResult:
    layout = mavp_home.layout
    shard, count, key = step_shard(context)
    images = pd.read_parquet(layout.table("mepave_image_records"), columns=["cid", "image_path"])
    images = images[shard_mask(images["cid"], shard, count)]
    chosen = read_slot_classifiers(layout.slot_classifiers)
    path = part_file(layout.image_predictions, key)
    info_path = path.with_suffix(".json")
    wanted = content_key("predictions/v2", sorted(zip(images["cid"], map(file_sha256, images["image_path"]))),
                         [file_sha256(c) for c in sorted(set(chosen["checkpoint"].dropna()))], chosen.astype(str))
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    reused = path.is_file() and info.get("key") == wanted
    if not reused:
        from pipeline.mavp.labeling import predict_images, save_predictions  # torch: imported only where it runs

        save_predictions(predict_images(images, chosen, layout.root / "cache", out=path), path)
        write_json({"key": wanted, "images": len(images)}, info_path)
    scored = predictions_index(path)
    return dg.MaterializeResult(metadata={
        "shard": f"{shard + 1} of {count}", "images": len(images), "reused": reused,
        "scored_by_slot": table(pd.DataFrame([{"slot": s, "images": len(i["cids"]), "values": len(i["values"])}
                                              for s, i in sorted(scored.items())])),
        "path": home_path(layout, path),
    })


@dg.asset(group_name=GROUP, deps=[SENTENCES, mepave_image_predictions, slot_partition, slot_classifiers],
          op_tags=CPU_HEAVY, kinds={"pytorch", "parquet"}, owners=OWNERS, tags=TAGS,
          code_version=code_version("pipeline/mavp/labeling.py", "pipeline/mavp/adapt.py", "pipeline/mavp/reliability.py",
                                    "pipeline/distant/selection.py"),
          description="Distant labels: each product image, each image slot of its category: the chosen "
                      "classifier's value, adapted to MEPAVE images on the products whose sentences name it "
                      "(cross-fitted), its calibrated probability and a reliability score. Reads every "
                      "partition of the predictions. Reused while images, checkpoints, sentences and choices stay.")
def mepave_image_labels(context: dg.AssetExecutionContext, config: LabelingConfig,
                        mavp_home: MavpHome) -> dg.MaterializeResult:
    layout = mavp_home.layout
    products = _products(layout)
    images = pd.read_parquet(layout.table("mepave_image_records"), columns=["cid", "image_path"])
    chosen = read_slot_classifiers(layout.slot_classifiers)
    image_slots = read_partition(mavp_home)["image"]
    settings, text = to_settings(config, LabelConfig), _text_values(layout)
    key = labeling_key(products, images, chosen, image_slots, text, settings)
    path, info_path = layout.image_labels, layout.image_labels_info
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    reused = path.is_file() and info.get("key") == key
    if not reused:
        from pipeline.mavp.labeling import labels_from_predictions   # torch: imported only where it runs

        merged = layout.image_predictions.with_name("image_predictions.merged.npz")
        predictions = merge_predictions([load_predictions(p) for p in part_files(layout.image_predictions)], merged)
        result = labels_from_predictions(products, predictions, image_slots, default_schema(), text, settings)
        write_parquet(result.labels, path)
        info = json_safe({"key": key, "stats": result.stats})
        write_json(info, info_path)
    labels = pd.read_parquet(path)
    image = labels[labels["source"] == "image"]
    per_slot = labels.groupby(["slot", "source"]).size().unstack(fill_value=0).reset_index()
    means = image.groupby("slot")[["confidence", "reliability"]].mean().round(3).add_prefix("mean_").reset_index()
    adaptation = pd.DataFrame([{"slot": s, **a} for s, a in info["stats"].get("adaptation", {}).items()])
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(labels),
        "dagster/column_schema": column_schema(path, LABEL_COLUMNS),
        "reused": reused,
        "by_slot": table(per_slot.merge(means, on="slot", how="left")),
        "adaptation (out-of-fold)": table(adaptation),
        "products_without_usable_image": int(labels.loc[labels["reason"] == "no_usable_image", "cid"].nunique()),
        "path": home_path(layout, path),
    })


MavpConfig = run_config_class("MavpConfig", AssemblyConfig,
                              "split: grouped (default; no cid in two splits) or random (the paper's 8:1:1 over "
                              "instances); seed of the split; name on the dataset card; min_reliability: image "
                              "labels below it become none (source none), counted in the report (0: keep all).",
                              "mavp")


def _read_rejects(layout: HomeLayout) -> dict[str, pd.DataFrame]:
    """Every step's rejects table; a partitioned step's parts (``name.<shard>-of-<N>.parquet``) as one."""
    folder = layout.rejects_dir
    names = sorted({p.name.split(".", 1)[0] for p in folder.glob("*.parquet")}) if folder.is_dir() else []
    return {name: read_parts(layout.rejects(name)) for name in names}


def _optional_parquet(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.is_file() else None


def _build_inputs(mavp_home: MavpHome) -> BuildInputs:
    layout = mavp_home.layout
    return BuildInputs(
        records=pd.read_parquet(layout.table("mepave_sentences")),
        images=pd.read_parquet(layout.table("mepave_image_records"), columns=["cid", "image_path"]),
        labels=pd.read_parquet(layout.image_labels),
        partition=read_partition(mavp_home),
        rejects=_read_rejects(layout),
        saliency=_optional_parquet(layout.slot_saliency),
        classifiers=read_slot_classifiers(layout.slot_classifiers),
        source_tables={s.kind: layout.distant_table(s.kind).read_text(encoding="utf-8") for s in vision_sources()
                       if layout.distant_table(s.kind).is_file()},
        saliency_chart=layout.saliency_chart if layout.saliency_chart.is_file() else None,
        truth=mavp_home.sample_truth(),
        home=layout.root, source_roots=list(mavp_home.source_dirs().values()),
        categories=_optional_parquet(layout.table("mepave_categories")),
    )


def split_columns(schema: Schema) -> dict[str, str]:
    """What each column of a split holds (the splits' column schema descriptions)."""
    out = {"sid": "sentence id", "cid": "product id", "category": "Clothes, Pants, Dresses, Shoes or Boots",
           "text": "the product sentence", "image": "product image (bytes and file name; loads as datasets.Image)"}
    for slot in schema.slots:
        out[slot.key] = f"{slot.zh}: canonical value or none"
        out[f"{slot.key}_source"] = "text, image or none"
        out[f"{slot.key}_confidence"] = "calibrated classifier probability of the image label"
        out[f"{slot.key}_reliability"] = "0-1 reliability of the image label"
    return out


TABLE_VI_COLUMNS = {"n": "instances with both an image label and a text annotation (truth: labelled products)",
                    "relative %": "image label equals the sentence's annotation",
                    "majority %": "always guessing the most common value", "truth %": "image label equals the truth",
                    "annotation %": "the annotation equals the truth (same rows)"}


def _table_vi_rows(vi: pd.DataFrame) -> pd.DataFrame:
    names = {"support": "n", "relative_accuracy": "relative %", "majority_baseline": "majority %",
             "truth_accuracy_same_rows": "truth %", "annotation_matches_truth": "annotation %"}
    return percent(vi, [c for c in names if c in vi and c != "support"]).rename(columns=names)


def _truth_rows(truth: pd.DataFrame) -> pd.DataFrame:
    return percent(truth, ["truth_accuracy", "majority_baseline"]).rename(
        columns={"products": "n", "truth_accuracy": "truth %", "majority_baseline": "majority %"})


RELIABILITY_COLUMNS = {"auroc": "reliability telling right labels from wrong ones (truth)",
                       "top 50 %": "accuracy of the most reliable half", "top 80 %": "of the most reliable 80 %",
                       "all %": "of every label", "source only %": "the source classifier before adaptation"}


def _reliability_rows(reliability: pd.DataFrame) -> pd.DataFrame:
    columns = {"accuracy_top_50": "top 50 %", "accuracy_top_80": "top 80 %", "accuracy_top_100": "all %",
               "source_only_accuracy": "source only %"}
    return percent(reliability, list(columns)).rename(columns=columns)


def _ui_report(markdown: str, layout: HomeLayout, reports: Path, figures: dict[str, str]) -> str:
    """The quality report for the UI: its images point at the figures the webserver serves."""
    for name in figures:
        if (reports / name).is_file():
            markdown = markdown.replace(f"]({name})", f"]({publish_figure(layout, reports / name)})")
    return markdown


@dg.asset(name="mavp", group_name=GROUP,
          deps=[SENTENCES, mepave_image_records, mepave_image_labels, slot_partition, slot_classifiers],
          kinds={"parquet", "huggingface"}, owners=OWNERS, tags=TAGS,
          code_version=code_version("pipeline/mavp", "pipeline/splits.py", "pipeline/schema.py", "pipeline/config"),
          description="The MAVP dataset: parquet splits, schema.json, dataset card, rejects and quality "
                      "reports under $MAVP_HOME/dataset (written atomically).")
def mavp(context: dg.AssetExecutionContext, config: MavpConfig, mavp_home: MavpHome) -> dg.MaterializeResult:
    schema, layout = default_schema(), mavp_home.layout
    build, report = build_dataset(_build_inputs(mavp_home), schema, to_settings(config, AssemblyConfig))
    folder, written = publish(build, layout.root)
    context.log.info(f"dataset {'written to' if written else 'unchanged at'} {layout.relative(folder)}")
    quality, reports = report["quality"], layout.dataset / "reports"
    names = report_figures(quality["partition"]["image"])
    figures = {f"figure/{name.removesuffix('.png')}": inline_figure(layout, reports / name, alt)
               for name, alt in names.items() if (reports / name).is_file()}
    rejects = pd.DataFrame(quality["rejects"], columns=["table", "source", "reason", "count"])
    return dg.MaterializeResult(metadata={
        "dagster/row_count": sum(report["counts"].values()),
        "dagster/column_schema": column_schema(split_files(layout.dataset)["train"], split_columns(schema)),
        "instances_by_split": dg.MetadataValue.json(report["counts"]),
        "table_v": table(report["table_v"]),
        "table_vi": table(_table_vi_rows(report["table_vi"]), TABLE_VI_COLUMNS),
        "truth_accuracy": (table(_truth_rows(report["truth"]), TABLE_VI_COLUMNS) if report["truth"] is not None
                           else dg.MetadataValue.md("_(no truth: real data)_")),
        **figures,
        "leakage": dg.MetadataValue.json(quality["split"]["leakage"]),
        "rejects_total": quality["rejects_total"],
        "rejects_by_table": table(rejects.groupby("table", as_index=False)["count"].sum()),
        "reliability": (table(_reliability_rows(report["reliability"]), RELIABILITY_COLUMNS)
                        if report["reliability"] is not None else dg.MetadataValue.md("_(no truth: real data)_")),
        "min_reliability": dg.MetadataValue.json(quality["min_reliability"]),
        "quality_report": dg.MetadataValue.md(_ui_report(report["markdown"], layout, reports, names)),
        "quality_md": home_path(layout, reports / "quality.md"),
        "dataset_dir": home_path(layout, layout.dataset),
        "build": folder.name,
        "written": written,
    })


# -- checks (blocking: a failed check stops downstream materializations and marks the run) --------

def _split_frames(mavp_home: MavpHome) -> dict[str, pd.DataFrame]:
    """Every split without its image bytes, which no check reads."""
    files = split_files(mavp_home.layout.dataset)
    return {s: pd.read_parquet(files[s], columns=[c for c in pq.read_schema(files[s]).names if c != "image"])
            if s in files else pd.DataFrame() for s in SPLITS}


def _quality(mavp_home: MavpHome) -> dict:
    return json.loads(mavp_home.layout.dataset_report("quality.json").read_text(encoding="utf-8"))


@dg.asset_check(asset=mavp, blocking=True, description="train, validation and test each hold rows.")
def every_split_non_empty(mavp_home: MavpHome) -> dg.AssetCheckResult:
    counts = {s: len(f) for s, f in _split_frames(mavp_home).items()}
    return dg.AssetCheckResult(passed=all(counts.values()), metadata={"rows": dg.MetadataValue.json(counts)})


@dg.asset_check(asset=mavp, blocking=True, description="With grouped splits no product (cid) is in two splits.")
def no_cid_across_splits(mavp_home: MavpHome) -> dg.AssetCheckResult:
    frames = _split_frames(mavp_home)
    owners: dict[str, set] = {}
    for split, frame in frames.items():
        for cid in frame.get("cid", []):
            owners.setdefault(cid, set()).add(split)
    shared = sorted(c for c, s in owners.items() if len(s) > 1)
    mode = _quality(mavp_home)["split"]["mode"]
    return dg.AssetCheckResult(passed=not shared or mode != "grouped",
                               metadata={"mode": mode, "cids_in_several_splits": len(shared),
                                         "examples": dg.MetadataValue.json(shared[:10])})


@dg.asset_check(asset=mavp, blocking=True, description="Every slot value is in its vocabulary or `none`.")
def values_in_vocabulary(mavp_home: MavpHome) -> dg.AssetCheckResult:
    schema = default_schema()
    bad = {}
    for split, frame in _split_frames(mavp_home).items():
        for slot in schema.slot_keys:
            allowed = set(schema.slot(slot).values) | {"none"}
            wrong = sorted(set(frame[slot]) - allowed) if slot in frame else ["<column missing>"]
            if wrong:
                bad[f"{split}.{slot}"] = wrong[:5]
    return dg.AssetCheckResult(passed=not bad, metadata={"outside_vocabulary": dg.MetadataValue.json(bad)})


@dg.asset_check(asset=mavp, blocking=True, description="Row counts of the parquet splits equal the report's.")
def row_counts_match_report(mavp_home: MavpHome) -> dg.AssetCheckResult:
    files = {s: len(f) for s, f in _split_frames(mavp_home).items()}
    quality = _quality(mavp_home)
    reported = quality["split"]["instances"]
    table_v = next(r for r in quality["table_v"] if r["category"] == "All")["instances"]
    passed = files == reported and sum(files.values()) == table_v
    return dg.AssetCheckResult(passed=passed, metadata={"files": dg.MetadataValue.json(files),
                                                        "report": dg.MetadataValue.json(reported),
                                                        "table_v_instances": table_v})


@dg.asset_check(asset=mavp, blocking=False,
                description="Warns when an image slot's distant labels are no better than always guessing its most "
                            "common value: accuracy against the generator's truth on the sample profile, Table VI "
                            "relative accuracy (image label vs the sentence's annotation) on real data. Lists the "
                            "slots.")
def image_labels_beat_majority(mavp_home: MavpHome) -> dg.AssetCheckResult:
    scored = labels_against_majority(_quality(mavp_home))
    weak = scored[~scored["beats_majority"]]
    return dg.AssetCheckResult(passed=weak.empty, severity=dg.AssetCheckSeverity.WARN,
                               description=f"{len(scored) - len(weak)}/{len(scored)} image slots beat the majority "
                                           f"baseline ({scored['basis'].iloc[0] if len(scored) else 'nothing scored'})",
                               metadata={"weak_slots": dg.MetadataValue.json(weak["slot"].tolist()),
                                         "slots": table(percent(scored, ["accuracy", "majority_baseline"])
                                                        .rename(columns={"accuracy": "accuracy %",
                                                                         "majority_baseline": "majority %"}))})


@dg.asset_check(asset=mavp, blocking=False,
                description="Every image label has a reliability in [0, 1] (none elsewhere), and where the truth is "
                            "known (sample profile) the reliability tells right labels from wrong ones: AUROC over "
                            "all image labels >= 0.8. Warns otherwise, listing the slots below it.")
def image_label_reliability(mavp_home: MavpHome) -> dg.AssetCheckResult:
    bad, quality = {}, _quality(mavp_home)
    for split, frame in _split_frames(mavp_home).items():
        for slot in quality["partition"]["image"]:
            image = frame[f"{slot}_source"] == "image"
            score = frame[f"{slot}_reliability"]
            wrong = int((image & ~score.between(0, 1)).sum() + (~image & score.notna()).sum())
            if wrong:
                bad[f"{split}.{slot}"] = wrong
    rows = pd.DataFrame(quality.get("reliability") or [], columns=["slot", "labels", "auroc"])
    overall = rows.loc[rows["slot"] == "All", "auroc"]
    auroc = float(overall.iloc[0]) if len(overall) and overall.notna().all() else None
    weak = rows[(rows["slot"] != "All") & (rows["auroc"] < 0.8)]["slot"].tolist()
    passed = not bad and (auroc is None or auroc >= 0.8)
    basis = f"AUROC {auroc:.3f} over all image labels" if auroc is not None else "no truth (real data): range only"
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, description=basis,
                               metadata={"out_of_range": dg.MetadataValue.json(bad),
                                         "slots_below_0.8": dg.MetadataValue.json(weak),
                                         "auroc_by_slot": table(rows)})


mavp_assets = [mepave_image_predictions, mepave_image_labels, mavp]
mavp_checks = [every_split_non_empty, no_cid_across_splits, values_in_vocabulary, row_counts_match_report,
               image_labels_beat_majority, image_label_reliability]

# -- rebuilds --------------------------------------------------------------------------------------

#: The data-parallel steps: partitioned by hash shard when the profile sets ``shards``.
SHARDED = dg.AssetSelection.assets(ifashion_images, region_features, mepave_image_predictions)
_everything = dg.AssetSelection.assets(mavp).upstream()
full_rebuild = dg.define_asset_job(
    "mavp_full_rebuild", selection=_everything if SHARDS is None else _everything - SHARDED,
    description="Every asset MAVP depends on, then MAVP (the `*mavp` selection)." + (
        "" if SHARDS is None else " The sharded steps are not in it: backfills of the mavp_*_shards jobs (or one "
                                  "of `*mavp` in the UI) materialize their partitions."))
#: With shards, one job per data-parallel step, one run per shard; each runs once the
#: unpartitioned steps before it are there (a UI backfill of `*mavp` orders all of it by itself).
shard_jobs = [] if SHARDS is None else [
    dg.define_asset_job(name, selection=[asset], partitions_def=SHARDS, description=what)
    for name, asset, what in (
        ("mavp_fetch_shards", ifashion_images, "iMaterialist images fetched, one shard of ids per run."),
        ("mavp_decode_shards", region_features, "MEPAVE images decoded into region features, one shard per run."),
        ("mavp_label_shards", mepave_image_predictions, "MEPAVE images scored by the chosen classifiers, one "
                                                          "shard per run (mepave_image_labels then reads all)."))]
weekly_rebuild = dg.ScheduleDefinition(name="mavp_weekly_rebuild", job=full_rebuild, cron_schedule="0 3 * * 1",
                                       description="Full rebuild every Monday 03:00 (reuses what did not change).")


def source_fingerprint(root: Path) -> str:
    """Hash of every file's relative path, size and modification time under ``root``."""
    digest = hashlib.sha256()
    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                try:
                    stat = path.stat()
                except OSError:
                    continue
                line = f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
                digest.update(line.encode("utf-8", "surrogateescape"))     # names need not be UTF-8
    return digest.hexdigest()[:16]


@dg.sensor(job=full_rebuild, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Requests a full rebuild when a file in a source directory is added, removed or changed.")
def source_change_sensor(context: dg.SensorEvaluationContext, mavp_home: MavpHome):
    current = {kind: source_fingerprint(root) for kind, root in mavp_home.source_dirs().items()}
    previous = json.loads(context.cursor) if context.cursor else None
    context.update_cursor(json.dumps(current, sort_keys=True))
    if previous is None:
        return dg.SkipReason("first evaluation: fingerprints recorded")
    changed = sorted(k for k in current if current[k] != previous.get(k))
    if not changed:
        return dg.SkipReason("no source directory changed")
    return dg.RunRequest(run_key=json.dumps(current, sort_keys=True), tags={"mavp/changed_sources": ",".join(changed)})
