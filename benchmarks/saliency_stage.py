"""Benchmark of the saliency stage on the default sample (2-core CPU budget: 150 s).

Prints: wall time of the sources (not part of the stage), of the stage from an empty cache
(region_backbone -> region_features -> both predictors -> slot_partition), of a rerun with
nothing changed, the per-slot table, the time per image of each region extractor, and, with
``--mepave-scales``, the stage from an empty home at each MEPAVE knob (how its cost grows).

    python -m benchmarks.saliency_stage [--home DIR] [--scale 1.0] [--mepave-scales 2 4] [--skip-rcnn]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.definitions import all_assets
from assets.resources import MavpHome
from assets.categories import category_assets
from assets.saliency import region_backbone, saliency_assets
from assets.sources import ifashion_images, mepave_image_records, sample_sources, source_assets
from models.regions import FasterRCNNRegions, GridRegions, save_faster_rcnn
from pipeline.images import load_rgb
from pipeline.saliency.report import slot_markdown
from pipeline.saliency.backbone import initial_backbone
from pipeline.saliency.config import BackbonePretrainConfig
from pipeline.saliency.regions import RegionConfig, read_precomputed

# The stage reads the categorised sentences (mepave_sentences), which need region_backbone: both
# are made with the sources, so the stage's time counts region_backbone as reused (~2 s less).
SALIENCY_KEYS = [a.key for a in saliency_assets]


def _materialize(home: Path, selection, scale: float, mepave_scale: float = 1.0) -> float:
    sources_selected = any(k.path[-1] == "sample_sources" for k in selection)
    config = ({"ops": {"sample_sources": {"config": {"seed": 0, "scale": scale, "mepave_scale": mepave_scale}}}}
              if sources_selected else {})
    t0 = time.perf_counter()
    result = dg.materialize(all_assets, selection=selection, resources={"mavp_home": MavpHome(home=str(home))},
                            run_config=config)
    assert result.success
    return time.perf_counter() - t0


def _per_image(extract, images, repeats: int = 1) -> float:
    extract(images[:2])                                 # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        extract(images)
    return (time.perf_counter() - t0) / (repeats * len(images))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--skip-rcnn", action="store_true")
    parser.add_argument("--mepave-scales", type=float, nargs="*", default=[],
                        help="also time the stage from an empty home at these MEPAVE knobs (e.g. 2 4)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="mavp-bench-"))
    sources = [a.key for a in [sample_sources, ifashion_images, *source_assets, mepave_image_records, region_backbone,
                               *category_assets]]
    t_sources = _materialize(home, sources, args.scale)
    t_stage = _materialize(home, SALIENCY_KEYS, args.scale)
    t_rerun = _materialize(home, SALIENCY_KEYS, args.scale)
    print(f"home: {home}")
    print(f"sources (sample + readers, not the stage): {t_sources:6.1f} s")
    print(f"saliency stage, empty cache:               {t_stage:6.1f} s   (budget 150 s on 2 CPU cores)")
    print(f"saliency stage, rerun with nothing changed: {t_rerun:6.1f} s")
    decided = pd.read_parquet(home / "saliency" / "slot_saliency.parquet")
    print(slot_markdown(decided))
    print(f"agrees with the paper: {int(decided['agrees'].sum())}/{len(decided)}")
    for knob in args.mepave_scales:
        grown = Path(tempfile.mkdtemp(prefix=f"mavp-bench-x{knob:g}-"))
        _materialize(grown, sources, args.scale, knob)
        seconds = _materialize(grown, SALIENCY_KEYS, args.scale)
        support = pd.read_parquet(grown / "saliency" / "slot_saliency.parquet")["support"]
        print(f"saliency stage at MEPAVE x{knob:g}: {seconds:6.1f} s, validation support per slot "
              f"{int(support.min())}-{int(support.max())} (median {int(support.median())})")

    images_table = pd.read_parquet(home / "sources" / "tables" / "mepave_image_records.parquet").head(16)
    images = [load_rgb(p) for p in images_table["image_path"]]
    default = BackbonePretrainConfig()
    grid = GridRegions(initial_backbone(default), image_size=default.image_size)
    print(f"grid ({default.backbone}, every stage, {default.image_size} px), per image: "
          f"{1000 * _per_image(grid.extract, images, 2):8.2f} ms")
    if not args.skip_rcnn:
        with tempfile.TemporaryDirectory() as tmp:
            weights = save_faster_rcnn(Path(tmp) / "frcnn.pth")
            for min_size in (800, 224):
                rcnn = FasterRCNNRegions(weights=weights, top_l=10, min_size=min_size)
                ms = 1000 * _per_image(rcnn.extract, images[:4])
                print(f"faster_rcnn resnet50_fpn, min_size {min_size:4d}:  {ms:8.1f} ms per image")
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "mepave-sample" / "embedded"
    if shared.is_dir():
        ids = (shared / "cids_of_imgs").read_text().split()
        t0 = time.perf_counter()
        table, _ = read_precomputed(RegionConfig(kind="precomputed", precomputed_dir=str(shared)), ids)
        print(f"precomputed (real MEPAVE {table.features.shape}), per image: "
              f"{1000 * (time.perf_counter() - t0) / len(ids):8.3f} ms")


if __name__ == "__main__":
    main()
