"""Benchmark of the distant-supervision stage on the default sample (2-core CPU budget: 120 s).

Trains every source's classifiers from an empty model folder (sources parsed and the region
backbone made first, not timed; the pooled-feature cache starts empty too), then prints the wall time per source and in all, Tables I-IV, and training and
inference images per second of each model, on the device torch picks (CUDA when present).

    python -m benchmarks.distant_stage [--home DIR] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import torch

from assets.definitions import all_assets
from pipeline.sources.registry import vision_sources
from assets.resources import MavpHome
from assets.saliency import backbone_overrides, region_backbone
from assets.sources import ifashion_images, sample_sources, source_assets
from pipeline.distant.report import source_markdown
from pipeline.distant.strategies import train_source
from pipeline.saliency.config import RegionConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="mavp-bench-"))
    sources = [a.key for a in [sample_sources, ifashion_images, *source_assets, region_backbone]]
    result = dg.materialize(all_assets, selection=sources, resources={"mavp_home": MavpHome(home=str(home))},
                            run_config={"ops": {"sample_sources": {"config": {"seed": 0, "scale": args.scale}}}})
    assert result.success
    print(f"device: {'cuda ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}, "
          f"torch threads {torch.get_num_threads()}")
    total, rows, layout = 0.0, [], MavpHome(home=str(home)).layout
    for source, settings in ((s.kind, s.training) for s in vision_sources()):
        table = pd.read_parquet(home / "sources" / "tables" / f"{source}_records.parquet")
        t0 = time.perf_counter()
        config = settings()
        backbone = RegionConfig(**backbone_overrides(layout)) if config.kind == "grid_probe" else None
        record = train_source(source, table, config, home / "models" / "distant",
                              layout.cache("features" if backbone else "pixels"), backbone)
        seconds = time.perf_counter() - t0
        total += seconds
        print(f"\n{source_markdown(record)}\n\nwall time {source}: {seconds:.1f} s (features + train + test)")
        rows += [{"source": source, "model": m["name"], "epochs": m["epochs"], "seconds": m["seconds"],
                  "train_img_per_s": m["train_images_per_second"],
                  "inference_img_per_s": m["inference_images_per_second"]} for m in record["models"]]
    print("\n" + pd.DataFrame(rows).to_string(index=False))
    print(f"\nstage wall time, all four sources: {total:.1f} s (budget 120 s on 2 CPU cores)")


if __name__ == "__main__":
    main()
