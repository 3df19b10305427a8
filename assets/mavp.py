"""The product: distant labels of MEPAVE images, and the ``mavp`` dataset asset with its checks,
plus the job, weekly schedule and source-change sensor that rebuild it."""

import hashlib
import json
import os
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.configs import run_config_class, to_settings
from assets.distant import TRAINING, distant_path, slot_classifiers
from assets.resources import MavpHome
from assets.saliency import CPU_HEAVY, read_partition, saliency_path, slot_partition
from assets.sources import mepave_image_records, mepave_records, table_path
from pipeline.distant.selection import read_slot_classifiers
from pipeline.io import write_json, write_parquet
from pipeline.mavp.build import AssemblyConfig, BuildInputs, build_dataset, json_safe
from pipeline.mavp.labeling import labeling_key
from pipeline.mavp.publish import DATA_FILE, publish
from pipeline.reporting import counts_markdown, markdown_table
from pipeline.schema import default_schema
from pipeline.splits import SPLITS

GROUP = "mavp"


def labels_path(mavp_home: MavpHome):
    return mavp_home.path("labels", "image_labels.parquet")


def _products(mavp_home: MavpHome) -> pd.DataFrame:
    records = pd.read_parquet(table_path(mavp_home, "mepave_records"), columns=["cid", "category"])
    return records.drop_duplicates("cid").astype(str).reset_index(drop=True)


@dg.asset(group_name=GROUP, deps=[mepave_records, mepave_image_records, slot_partition, slot_classifiers],
          op_tags=CPU_HEAVY,
          description="Distant labels: each product image, each image slot of its category, the chosen "
                      "classifier's value and probability. Reused while images, checkpoints and choices stay.")
def mepave_image_labels(context: dg.AssetExecutionContext, mavp_home: MavpHome) -> dg.MaterializeResult:
    products = _products(mavp_home)
    images = pd.read_parquet(table_path(mavp_home, "mepave_image_records"), columns=["cid", "image_path"])
    chosen = read_slot_classifiers(distant_path(mavp_home, "slot_classifiers.json"))
    image_slots = read_partition(mavp_home)["image"]
    key = labeling_key(products, images, chosen, image_slots)
    path, info_path = labels_path(mavp_home), mavp_home.path("labels", "image_labels.json")
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    reused = path.is_file() and info.get("key") == key
    if not reused:
        from pipeline.mavp.labeling import label_images   # torch: imported only where it runs

        result = label_images(products, images, chosen, image_slots, default_schema(), mavp_home.path("cache", "pixels"))
        write_parquet(result.labels, path)
        info = json_safe({"key": key, "stats": result.stats})
        write_json(info, info_path)
    labels = pd.read_parquet(path)
    per_slot = labels.groupby(["slot", "source"]).size().unstack(fill_value=0).reset_index()
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(labels),
        "reused": reused,
        "by_slot": dg.MetadataValue.md(markdown_table(per_slot, max_rows=30)),
        "products_without_usable_image": int(labels.loc[labels["reason"] == "no_usable_image", "cid"].nunique()),
        "mean_confidence": dg.MetadataValue.json(
            labels[labels["source"] == "image"].groupby("slot")["confidence"].mean().round(3).to_dict()),
        "path": dg.MetadataValue.path(str(path)),
    })


MavpConfig = run_config_class("MavpConfig", AssemblyConfig,
                              "split: grouped (default; no cid in two splits) or random (the paper's 8:1:1 over "
                              "instances); seed of the split; name on the dataset card.")


def _read_rejects(mavp_home: MavpHome) -> dict[str, pd.DataFrame]:
    folder = mavp_home.path("rejects")
    return {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))} if folder.is_dir() else {}


def _optional_parquet(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.is_file() else None


def dataset_dir(mavp_home: MavpHome) -> Path:
    return mavp_home.path("dataset")


@dg.asset(name="mavp", group_name=GROUP,
          deps=[mepave_records, mepave_image_records, mepave_image_labels, slot_partition, slot_classifiers],
          description="The MAVP dataset: parquet splits, schema.json, dataset card, rejects and quality "
                      "reports under $MAVP_HOME/dataset (written atomically).")
def mavp(context: dg.AssetExecutionContext, config: MavpConfig, mavp_home: MavpHome) -> dg.MaterializeResult:
    schema = default_schema()
    truth_file = mavp_home.sample_dir / "truth.parquet"
    classifiers = read_slot_classifiers(distant_path(mavp_home, "slot_classifiers.json"))
    source_tables = {s: distant_path(mavp_home, f"{s}.md").read_text(encoding="utf-8") for s in TRAINING
                     if distant_path(mavp_home, f"{s}.md").is_file()}
    inputs = BuildInputs(
        records=pd.read_parquet(table_path(mavp_home, "mepave_records")),
        images=pd.read_parquet(table_path(mavp_home, "mepave_image_records"), columns=["cid", "image_path"]),
        labels=pd.read_parquet(labels_path(mavp_home)),
        partition=read_partition(mavp_home),
        rejects=_read_rejects(mavp_home),
        saliency=_optional_parquet(saliency_path(mavp_home, "slot_saliency.parquet")),
        classifiers=classifiers, source_tables=source_tables,
        saliency_chart=saliency_path(mavp_home, "saliency.png") if saliency_path(mavp_home, "saliency.png").is_file() else None,
        truth=pd.read_parquet(truth_file) if mavp_home.profile == "sample" and truth_file.is_file() else None,
    )
    build, report = build_dataset(inputs, schema, to_settings(config, AssemblyConfig))
    folder, written = publish(build, mavp_home.root)
    context.log.info(f"dataset {'written to' if written else 'unchanged at'} {folder}")
    quality = report["quality"]
    md_path = dataset_dir(mavp_home) / "reports" / "quality.md"
    return dg.MaterializeResult(metadata={
        "dagster/row_count": sum(report["counts"].values()),
        "instances_by_split": dg.MetadataValue.json(report["counts"]),
        "leakage": dg.MetadataValue.json(quality["split"]["leakage"]),
        "table_v": dg.MetadataValue.md(markdown_table(report["table_v"], max_rows=10)),
        "table_vi": dg.MetadataValue.md(markdown_table(report["table_vi"], max_rows=50)),
        "truth_accuracy": dg.MetadataValue.md(markdown_table(report["truth"], max_rows=30)
                                              if report["truth"] is not None else "_(no truth: real data)_"),
        "rejects_total": quality["rejects_total"],
        "rejects_by_table": dg.MetadataValue.md(counts_markdown(
            {k: int(v) for k, v in pd.DataFrame(quality["rejects"]).groupby("table")["count"].sum().items()}
            if quality["rejects"] else {}, "table")),
        "quality_report": dg.MetadataValue.md(report["markdown"]),
        "quality_md": dg.MetadataValue.path(str(md_path)),
        "dataset_dir": dg.MetadataValue.path(str(dataset_dir(mavp_home))),
        "build": folder.name,
        "written": written,
    })


# -- checks (blocking: a failed check stops downstream materializations and marks the run) --------

def _split_frames(mavp_home: MavpHome) -> dict[str, pd.DataFrame]:
    root = dataset_dir(mavp_home)
    return {s: pd.read_parquet(root / DATA_FILE.format(split=s)) if (root / DATA_FILE.format(split=s)).is_file()
            else pd.DataFrame() for s in SPLITS}


def _quality(mavp_home: MavpHome) -> dict:
    return json.loads((dataset_dir(mavp_home) / "reports" / "quality.json").read_text(encoding="utf-8"))


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


mavp_assets = [mepave_image_labels, mavp]
mavp_checks = [every_split_non_empty, no_cid_across_splits, values_in_vocabulary, row_counts_match_report]

# -- rebuilds --------------------------------------------------------------------------------------

full_rebuild = dg.define_asset_job("mavp_full_rebuild", selection=dg.AssetSelection.assets(mavp).upstream(),
                                   description="Every asset MAVP depends on, then MAVP (the `*mavp` selection).")
weekly_rebuild = dg.ScheduleDefinition(name="mavp_weekly_rebuild", job=full_rebuild, cron_schedule="0 3 * * 1",
                                       description="Full rebuild every Monday 03:00 (reuses what did not change).")
SOURCE_KINDS = ("mepave", "mepave_images", "fashionai", "utzap50k", "ifashion", "crawl")


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
                digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


@dg.sensor(job=full_rebuild, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Requests a full rebuild when a file in a source directory is added, removed or changed.")
def source_change_sensor(context: dg.SensorEvaluationContext, mavp_home: MavpHome):
    current = {}
    for kind in SOURCE_KINDS:
        try:
            current[kind] = source_fingerprint(mavp_home.source_dir(kind))
        except dg.Failure:
            continue                       # paper profile with a directory not configured
    previous = json.loads(context.cursor) if context.cursor else None
    context.update_cursor(json.dumps(current, sort_keys=True))
    if previous is None:
        return dg.SkipReason("first evaluation: fingerprints recorded")
    changed = sorted(k for k in current if current[k] != previous.get(k))
    if not changed:
        return dg.SkipReason("no source directory changed")
    return dg.RunRequest(run_key=json.dumps(current, sort_keys=True), tags={"mavp/changed_sources": ",".join(changed)})
