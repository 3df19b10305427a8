"""Source assets: the synthetic sample and one parsed table (+ rejects) per source."""


import json

import dagster as dg
import pandas as pd

from assets.resources import MavpHome
from pipeline.io import write_parquet
from pipeline.records import ReadResult
from pipeline.reporting import counts_markdown, markdown_table
from pipeline.sources.mepave import read_product_images
from pipeline.sources.registry import read_source
from pipeline.synth import SampleLayout, generate_sample

GROUP = "sources"


class SampleConfig(dg.Config):
    seed: int = 0
    scale: float = 1.0


@dg.asset(group_name=GROUP, description="The synthetic sources in their real on-disk formats (sample profile).")
def sample_sources(context: dg.AssetExecutionContext, config: SampleConfig,
                   mavp_home: MavpHome) -> dg.MaterializeResult:
    if mavp_home.profile != "sample":
        return dg.MaterializeResult(metadata={"skipped": f"profile {mavp_home.profile} reads real sources"})
    layout = SampleLayout(mavp_home.sample_dir)
    manifest = None
    if layout.manifest.is_file():
        manifest = json.loads(layout.manifest.read_text(encoding="utf-8"))
        if (manifest.get("seed"), manifest.get("scale")) != (config.seed, config.scale):
            manifest = None
    if manifest is None:
        context.log.info(f"generating the sample (seed {config.seed}, scale {config.scale})")
        manifest = generate_sample(layout.root, seed=config.seed, scale=config.scale)
    else:
        context.log.info("sample already present with this seed and scale; reusing it")
    counts = {k: v if isinstance(v, int) else json.dumps(v, ensure_ascii=False, default=str)
              for k, v in manifest["counts"].items()}
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(layout.root)),
        "seed": config.seed,
        "scale": config.scale,
        "counts": dg.MetadataValue.json(manifest["counts"]),
        "injected_bad_records": dg.MetadataValue.json(manifest.get("injected", {})),
        "summary": dg.MetadataValue.md(counts_markdown({k: str(v)[:80] for k, v in counts.items()}, "source", "count")),
    })


def _write_tables(mavp_home: MavpHome, name: str, result: ReadResult) -> dict:
    table_path = write_parquet(result.valid, mavp_home.path("sources", "tables", f"{name}.parquet"))
    rejects_path = write_parquet(result.rejects, mavp_home.path("rejects", f"{name}.parquet"))
    preview_cols = [c for c in result.valid.columns if c not in ("tagged", "file", "line")]
    return {
        "dagster/row_count": len(result.valid),
        "rejected": len(result.rejects),
        "rejects_by_reason": dg.MetadataValue.md(counts_markdown(result.rejects_by_reason())),
        "stats": dg.MetadataValue.json(json.loads(json.dumps(result.stats, default=str))),
        "preview": dg.MetadataValue.md(markdown_table(result.valid[preview_cols])),
        "table_path": dg.MetadataValue.path(str(table_path)),
        "rejects_path": dg.MetadataValue.path(str(rejects_path)),
    }


def table_path(mavp_home: MavpHome, name: str):
    return mavp_home.path("sources", "tables", f"{name}.parquet")


class ImageFetchConfig(dg.Config):
    """The iMaterialist release ships URLs only; images land as ``images/{imageId}.jpg``.
    ``splits``: the JSON files to fetch (ids restart at 1 in each real split: fetch one, or
    give the reader a pattern with ``{split}``)."""

    splits: list[str] = ["train", "validation"]
    workers: int = 8
    timeout_s: float = 10.0
    retries: int = 3


@dg.asset(group_name=GROUP, deps=[sample_sources],
          description="iMaterialist images fetched from their URLs: resumable (valid files are skipped), "
                      "bounded parallel, retried with backoff; every failure recorded with its reason.")
def ifashion_images(context: dg.AssetExecutionContext, config: ImageFetchConfig,
                    mavp_home: MavpHome) -> dg.MaterializeResult:
    from pipeline.fetch import FetchConfig, fetch_images, ifashion_fetch_items

    root = mavp_home.source_dir("ifashion")
    # The sample's URLs are deliberately unreachable (.invalid): files it left out stay out,
    # after one attempt, rather than waiting through backoff.
    retries = 0 if mavp_home.profile == "sample" else config.retries
    fetch_config = FetchConfig(workers=config.workers, timeout_s=config.timeout_s, retries=retries)
    reports, rejects = [], []
    for split in config.splits:
        items, bad = ifashion_fetch_items(root / f"{split}.json", root / "images")
        report = fetch_images(items, fetch_config, progress=lambda done, total: (
            context.log.info(f"{split}: {done}/{total} images") if done == total or done % 5000 == 0 else None))
        reports.append(report.results.assign(split=split))
        rejects += [bad, report.rejects]
    results = pd.concat(reports, ignore_index=True) if reports else pd.DataFrame()
    rejected = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame()
    write_parquet(results, mavp_home.path("sources", "fetch", "ifashion_images.parquet"))
    write_parquet(rejected, mavp_home.path("rejects", "ifashion_images.parquet"))
    status = results["status"].value_counts().to_dict() if len(results) else {}
    reasons = rejected["reason"].value_counts().to_dict() if len(rejected) else {}
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(results),
        "by_status": dg.MetadataValue.md(counts_markdown({str(k): int(v) for k, v in status.items()}, "status")),
        "rejects_by_reason": dg.MetadataValue.md(counts_markdown({str(k): int(v) for k, v in reasons.items()})),
        "images_dir": dg.MetadataValue.path(str(root / "images")),
    })


def _source_asset(kind: str, description: str) -> dg.AssetsDefinition:
    name = f"{kind}_records"
    deps = [sample_sources, ifashion_images] if kind == "ifashion" else [sample_sources]

    @dg.asset(name=name, group_name=GROUP, deps=deps, description=description)
    def _asset(context: dg.AssetExecutionContext, mavp_home: MavpHome) -> dg.MaterializeResult:
        root = mavp_home.source_dir(kind)
        context.log.info(f"reading {kind} from {root}")
        result = read_source(kind, root)
        return dg.MaterializeResult(metadata={"source_dir": dg.MetadataValue.path(str(root)),
                                              **_write_tables(mavp_home, name, result)})

    return _asset


SOURCE_DESCRIPTIONS = {
    "mepave": "MEPAVE sentences with their value spans and product category.",
    "fashionai": "FashionAI attribute labels (one row per image and task).",
    "utzap50k": "UT-ZAP50K shoe attributes (one row per CID and task).",
    "ifashion": "iMaterialist-2018 labels per image and label group.",
    "crawl": "Crawled images labelled by their folder.",
}
source_assets = [_source_asset(kind, text) for kind, text in SOURCE_DESCRIPTIONS.items()]
mepave_records = source_assets[0]


@dg.asset(group_name=GROUP, deps=[mepave_records],
          description="One checked image per MEPAVE product; unusable images are rejects.")
def mepave_image_records(context: dg.AssetExecutionContext, mavp_home: MavpHome) -> dg.MaterializeResult:
    sentences = pd.read_parquet(table_path(mavp_home, "mepave_records"), columns=["cid"])
    image_dir = mavp_home.source_dir("mepave_images")
    result = read_product_images(image_dir, sentences["cid"])
    return dg.MaterializeResult(metadata={"image_dir": dg.MetadataValue.path(str(image_dir)),
                                          **_write_tables(mavp_home, "mepave_image_records", result)})


def _non_empty_check(asset_def: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    name = asset_def.key.path[-1]

    @dg.asset_check(asset=asset_def, name="has_valid_rows", blocking=True,
                    description="Fails when the source yields no valid rows.")
    def _check(mavp_home: MavpHome) -> dg.AssetCheckResult:
        path = table_path(mavp_home, name)
        rows = pd.read_parquet(path).shape[0] if path.is_file() else 0
        return dg.AssetCheckResult(passed=rows > 0, metadata={"valid_rows": rows, "path": str(path)})

    return _check


source_checks = [_non_empty_check(a) for a in [*source_assets, mepave_image_records]]
