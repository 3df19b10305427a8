"""``mepave_sentences``: the MEPAVE sentences with every product's category, from its words or,
where no sentence names the product, from its image (pipeline.categorise). Every later stage
reads this table."""

import dagster as dg
import pandas as pd

from assets.configs import run_config_class, to_settings
from assets.metadata import OWNERS, code_version, home_path, table, table_file_metadata
from assets.resources import MavpHome
from assets.saliency import CPU_HEAVY, backbone_overrides, region_backbone
from assets.sources import mepave_image_records, mepave_records, records_assets
from pipeline.categorise import CategoriserConfig
from pipeline.io import write_parquet
from pipeline.schema import CATEGORIES, default_schema
from pipeline.sources.mepave import no_category_rejects
from pipeline.sources.registry import vision_sources

GROUP = "sources"
TAGS = {"mavp/stage": "sources"}
CategoriesConfig = run_config_class(
    "MepaveCategoriesConfig", CategoriserConfig,
    "min_confidence: a product whose sentences name no product takes its image's most probable category "
    "at or above it; max_per_category: source images per category the image classifier learns from.",
    "mepave_categories")


@dg.asset(group_name=GROUP, deps=[mepave_records, mepave_image_records, region_backbone,
                                  *(records_assets[s.kind] for s in vision_sources())],
          op_tags=CPU_HEAVY, kinds={"pytorch", "parquet"}, owners=OWNERS, tags=TAGS,
          code_version=code_version("pipeline/categorise.py", "pipeline/config/categories.yaml",
                                    "pipeline/distant/features.py"),
          description="Every MEPAVE product's category: from its words (keyword rule), else from its image (a "
                      "5-way linear classifier over the region backbone's features, learned from the vision "
                      "sources' images of known category), else none: its sentences are rejects (no_category).")
def mepave_sentences(context: dg.AssetExecutionContext, config: CategoriesConfig,
                     mavp_home: MavpHome) -> dg.MaterializeResult:
    from pipeline.categorise import coverage, final_categories

    layout = mavp_home.layout
    settings = to_settings(config, CategoriserConfig)
    records = pd.read_parquet(layout.table("mepave_records"))
    pending = sorted(set(records.loc[records["category"].isna(), "cid"]))
    by_image, learned = _categories_from_images(layout, pending, settings)
    products, sentences = final_categories(records, by_image)
    kept = sentences["category"].notna()
    why = (f"its sentences name no product and its image gives no category at {settings.min_confidence} "
           "or above")
    rejects = no_category_rejects(sentences.loc[~kept], lambda cid: why, mavp_home.source_dir("mepave"))
    path = write_parquet(sentences.loc[kept].reset_index(drop=True), layout.table("mepave_sentences"))
    write_parquet(products, layout.table("mepave_categories"))
    write_parquet(rejects.frame(), layout.rejects("mepave_sentences"))
    context.log.info(f"products by {products['by'].value_counts().to_dict()}")
    return dg.MaterializeResult(metadata={
        **table_file_metadata(layout, path, int(kept.sum())),
        "products_by": table(coverage(products, mavp_home.sample_truth(["cid", "category"])).astype(str)),
        "image_classifier": dg.MetadataValue.json(learned),
        "rejected": int((~kept).sum()),
        "categories_path": home_path(layout, layout.table("mepave_categories")),
    })


def _categories_from_images(layout, pending: list[str], settings: CategoriserConfig) -> tuple[pd.DataFrame, dict]:
    """``cid, category, confidence`` from the product images of ``pending``, and what the
    classifier learned from (nothing to do when every product is named by its words)."""
    from pipeline.categorise import category_examples, fit_categoriser, image_categories
    from pipeline.distant.features import feature_extractor, image_features
    from pipeline.saliency.config import RegionConfig

    empty = pd.DataFrame({"cid": pd.Series(dtype=str), "category": pd.Series(dtype=object),
                          "confidence": pd.Series(dtype=float)})
    images = pd.read_parquet(layout.table("mepave_image_records"), columns=["cid", "image_path"])
    images = images[images["cid"].isin(pending)]
    if images.empty:
        return empty, {"pending_products": len(pending), "with_usable_image": 0}
    tables = {s.kind: pd.read_parquet(layout.table(s.table)) for s in vision_sources()}
    examples = category_examples(tables, default_schema(), settings)
    extractor = feature_extractor(RegionConfig(**backbone_overrides(layout)), pool=3)
    source = image_features(list(examples["image_path"]), list(examples["image_path"]), extractor,
                            layout.cache("features"))
    category_of = dict(zip(examples["image_path"], examples["category"]))
    model = fit_categoriser(source.features, [category_of[i] for i in source.ids], settings)
    target = image_features(list(images["cid"]), list(images["image_path"]), extractor, layout.cache("features"))
    learned = {"pending_products": len(pending), "with_usable_image": len(target.ids),
               "source_images": {c: int(n) for c, n in examples["category"].value_counts().reindex(CATEGORIES, fill_value=0).items()},
               "holdout_accuracy": round(model.holdout_accuracy, 4)}
    return image_categories(target.ids, model.probabilities(target.features), model.classes, settings), learned


category_assets = [mepave_sentences]
