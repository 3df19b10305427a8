"""Source assets: the synthetic sample and one parsed table (+ rejects) per source."""


import json

import dagster as dg
import pandas as pd

from assets.metadata import OWNERS, code_version, home_path, table, table_file_metadata
from assets.partitions import SHARDS, part_file, step_shard
from assets.resources import MavpHome
from pipeline.io import write_parquet
from pipeline.records import ReadResult
from pipeline.reporting import counts_markdown
from pipeline.profiles import active_profile
from pipeline.shards import shard_mask
from pipeline.sources.mepave import read_product_images
from pipeline.sources.registry import FOLDER_KINDS, SOURCES, SourceSpec
from pipeline.synth import GENERATOR_VERSION, generate_sample

GROUP = "sources"
TAGS = {"mavp/stage": "sources"}


class SampleConfig(dg.Config):
    """``scale`` sizes every source; ``mepave_scale`` multiplies the MEPAVE part alone."""

    seed: int = 0
    scale: float = 1.0
    mepave_scale: float = 1.0


@dg.asset(group_name=GROUP, kinds={"python", "yaml"}, owners=OWNERS, tags=TAGS,
          code_version=code_version("pipeline/profiles.py", "pipeline/preflight.py", "pipeline/config/profiles"),
          description="The active profile (MAVP_PROFILE), checked before anything reads or trains: every source "
                      "folder and weights file it names exists and fits the model that loads it. A build stops "
                      "here with every problem listed.")
def profile(context: dg.AssetExecutionContext, mavp_home: MavpHome) -> dg.MaterializeResult:
    from pipeline.preflight import check_profile

    active = active_profile()
    configured = mavp_home.source_dirs()
    folders = {kind: configured.get(kind) for kind in FOLDER_KINDS}
    problems = check_profile(active, folders)
    if problems:
        raise dg.Failure(f"the {active.name} profile cannot run ({len(problems)} problem(s)):\n- " + "\n- ".join(problems),
                         metadata={"profile_file": str(active.path)})
    settings = pd.DataFrame([{"section": section, "setting": k, "value": json.dumps(v, ensure_ascii=False)}
                             for section, values in active.settings.items() for k, v in values.items()])
    context.log.info(f"profile {active.name} ({active.path}): every folder and weights file checked")
    return dg.MaterializeResult(metadata={
        "profile": active.name, "file": str(active.path),
        "settings": table(settings if len(settings) else pd.DataFrame({"section": [], "setting": [], "value": []})),
        "sources": dg.MetadataValue.json({k: str(v) for k, v in folders.items()} if not active.generated
                                         else "generated under the home"),
    })


@dg.asset(group_name=GROUP, deps=[profile], kinds={"python", "opencv"}, owners=OWNERS, tags=TAGS,
          code_version=code_version("pipeline/synth"),
          description="The synthetic sources in their real on-disk formats (sample profile).")
def sample_sources(context: dg.AssetExecutionContext, config: SampleConfig,
                   mavp_home: MavpHome) -> dg.MaterializeResult:
    if mavp_home.profile != "sample":
        return dg.MaterializeResult(metadata={"skipped": f"profile {mavp_home.profile} reads real sources"})
    layout = mavp_home.layout.sample
    manifest = None
    if layout.manifest.is_file():
        manifest = json.loads(layout.manifest.read_text(encoding="utf-8"))
        # a sample written by another version of the generator is another world: regenerate
        wanted = (GENERATOR_VERSION, config.seed, config.scale, config.mepave_scale)
        if (manifest.get("version"), manifest.get("seed"), manifest.get("scale"),
                manifest.get("mepave_scale", 1.0)) != wanted:
            manifest = None
    if manifest is None:
        context.log.info(f"generating the sample (seed {config.seed}, scale {config.scale}, "
                         f"MEPAVE x{config.mepave_scale})")
        manifest = generate_sample(layout.root, seed=config.seed, scale=config.scale,
                                   mepave_scale=config.mepave_scale)
    else:
        context.log.info("sample already present with this generator, seed and scale; reusing it")
    counts = pd.DataFrame([{"part": k, "count": v if isinstance(v, int) else json.dumps(v, ensure_ascii=False)}
                           for k, v in manifest["counts"].items()])
    return dg.MaterializeResult(metadata={
        "path": home_path(mavp_home.layout, layout.root),
        "seed": config.seed,
        "scale": config.scale,
        "mepave_scale": config.mepave_scale,
        "counts": table(counts.astype({"count": str})),
        "injected_bad_records": dg.MetadataValue.json(manifest.get("injected", {})),
    })


def _write_tables(mavp_home: MavpHome, name: str, result: ReadResult) -> dict:
    layout = mavp_home.layout
    table_path = write_parquet(result.valid, layout.table(name))
    rejects_path = write_parquet(result.rejects, layout.rejects(name))
    preview_cols = [c for c in result.valid.columns if c not in ("tagged", "file", "line")]
    return {
        **table_file_metadata(layout, table_path, len(result.valid)),
        "rejected": len(result.rejects),
        "rejects_by_reason": dg.MetadataValue.md(counts_markdown(result.rejects_by_reason())),
        "stats": dg.MetadataValue.json(json.loads(json.dumps(result.stats, default=str))),
        "preview": table(_preview(result.valid[preview_cols], layout)),
        "rejects_path": home_path(layout, rejects_path),
    }


def _preview(frame: pd.DataFrame, layout, rows: int = 10) -> pd.DataFrame:
    """The first rows as text, file paths shown relative to the home."""
    shown = frame.head(rows).astype(str)
    for column in [c for c in shown.columns if c.endswith("path")]:
        shown[column] = shown[column].map(layout.relative)
    return shown


class ImageFetchConfig(dg.Config):
    """The iMaterialist release ships URLs only; images land as ``images/{imageId}.jpg``.
    ``splits``: the JSON files to fetch (ids restart at 1 in each real split: fetch one, or
    give the reader a pattern with ``{split}``)."""

    splits: list[str] = ["train", "validation"]
    workers: int = 8
    timeout_s: float = 10.0
    retries: int = 3


@dg.asset(group_name=GROUP, deps=[sample_sources], kinds={"python", "parquet"}, owners=OWNERS, tags=TAGS,
          partitions_def=SHARDS, code_version=code_version("pipeline/fetch.py", "pipeline/shards.py"),
          description="iMaterialist images fetched from their URLs: resumable (valid files are skipped), "
                      "bounded parallel, retried with backoff; every failure recorded with its reason. "
                      "With shards, each partition fetches the images whose id hashes into it.")
def ifashion_images(context: dg.AssetExecutionContext, config: ImageFetchConfig,
                    mavp_home: MavpHome) -> dg.MaterializeResult:
    from pipeline.fetch import FetchConfig, fetch_images, ifashion_fetch_items

    layout = mavp_home.layout
    root = mavp_home.source_dir("ifashion")
    shard, count, key = step_shard(context)
    # The sample's URLs are deliberately unreachable (.invalid): files it left out stay out,
    # after one attempt, rather than waiting through backoff.
    retries = 0 if mavp_home.profile == "sample" else config.retries
    fetch_config = FetchConfig(workers=config.workers, timeout_s=config.timeout_s, retries=retries)
    reports, rejects = [], []
    for split in config.splits:
        items, bad = ifashion_fetch_items(root / f"{split}.json", root / "images")
        items = [item for item, mine in zip(items, shard_mask([i for i, _, _ in items], shard, count)) if mine]
        report = fetch_images(items, fetch_config, root=root, progress=lambda done, total: (
            context.log.info(f"{split}: {done}/{total} images") if done == total or done % 5000 == 0 else None))
        reports.append(report.results.assign(split=split))
        # every shard parses the whole file; its bad entries are counted once, by shard 0
        rejects += [bad, report.rejects] if shard == 0 else [report.rejects]
    results = pd.concat(reports, ignore_index=True) if reports else pd.DataFrame()
    rejected = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame()
    results_path = write_parquet(results, part_file(layout.ifashion_fetch_report, key))
    write_parquet(rejected, part_file(layout.rejects("ifashion_images"), key))
    status = results["status"].value_counts().to_dict() if len(results) else {}
    reasons = rejected["reason"].value_counts().to_dict() if len(rejected) else {}
    return dg.MaterializeResult(metadata={
        **table_file_metadata(layout, results_path, len(results)),
        "by_status": dg.MetadataValue.md(counts_markdown({str(k): int(v) for k, v in status.items()}, "status")),
        "rejects_by_reason": dg.MetadataValue.md(counts_markdown({str(k): int(v) for k, v in reasons.items()})),
        "images_dir": home_path(layout, root / "images"),
    })


class SourceReadConfig(dg.Config):
    """``follow_links_outside``: read files and folders that are links leaving the source folder
    (your own symlinked ``Images/``, say). Off, they are rejects (``outside_source``), unopened."""

    follow_links_outside: bool = False


def _source_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    deps = [sample_sources, ifashion_images] if spec.fetched_images else [sample_sources]

    @dg.asset(name=spec.table, group_name=GROUP, deps=deps, description=spec.description, kinds={"python", "parquet"},
              owners=OWNERS, tags=TAGS, code_version=code_version("pipeline/sources", "pipeline/records.py",
                                                                   "pipeline/images.py", "pipeline/reasons.py"))
    def _asset(context: dg.AssetExecutionContext, config: SourceReadConfig, mavp_home: MavpHome) -> dg.MaterializeResult:
        root = mavp_home.source_dir(spec.kind)
        context.log.info(f"reading {spec.kind} from {mavp_home.layout.relative(root)}")
        result = spec.read(root, config.follow_links_outside)
        return dg.MaterializeResult(metadata={"source_dir": home_path(mavp_home.layout, root),
                                              **_write_tables(mavp_home, spec.table, result)})

    return _asset


records_assets = {spec.kind: _source_asset(spec) for spec in SOURCES.values()}
source_assets = list(records_assets.values())
mepave_records = records_assets["mepave"]


@dg.asset(group_name=GROUP, deps=[mepave_records], kinds={"python", "parquet"}, owners=OWNERS, tags=TAGS,
          code_version=code_version("pipeline/sources/mepave.py", "pipeline/images.py"),
          description="One checked image per MEPAVE product; unusable images are rejects.")
def mepave_image_records(context: dg.AssetExecutionContext, config: SourceReadConfig,
                         mavp_home: MavpHome) -> dg.MaterializeResult:
    sentences = pd.read_parquet(mavp_home.layout.table("mepave_records"), columns=["cid"])
    image_dir = mavp_home.source_dir("mepave_images")
    result = read_product_images(image_dir, sentences["cid"], follow_links_outside=config.follow_links_outside)
    return dg.MaterializeResult(metadata={"image_dir": home_path(mavp_home.layout, image_dir),
                                          **_write_tables(mavp_home, "mepave_image_records", result)})


def _non_empty_check(asset_def: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    name = asset_def.key.path[-1]

    @dg.asset_check(asset=asset_def, name="has_valid_rows", blocking=True,
                    description="Fails when the source yields no valid rows.")
    def _check(mavp_home: MavpHome) -> dg.AssetCheckResult:
        path = mavp_home.layout.table(name)
        rows = pd.read_parquet(path).shape[0] if path.is_file() else 0
        return dg.AssetCheckResult(passed=rows > 0, metadata={"valid_rows": rows,
                                                              "path": mavp_home.layout.relative(path)})

    return _check


source_checks = [_non_empty_check(a) for a in [*source_assets, mepave_image_records]]
