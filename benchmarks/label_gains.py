"""Each part's share of the image labels' gain (issue 12, parts 1a-1d), measured on a built home.

On a home where ``*mavp`` has run (sources, region backbone and partition are there), the image
slots are labelled five times, each step adding one part to the one before, and scored against
the generator's truth on every labelled product:

0. the earlier classifiers: a Swin trained on pixels at 48 px (``kind: finetune``, its old
   settings), no augmentation, source classifier only;
1. + **1d** pretrained backbone: heads over the frozen ImageNet EfficientNet-Lite0, still at 48 px;
2. + **1a** fine detail: the same at the region backbone's 192 px;
3. + **1b** augmentation: an augmented view of each source training image (backdrop, mirror,
   scale, position, rotation) and the mirrored view of each MEPAVE image;
4. + **1c** text-anchored adaptation, cross-fitted over 5 folds of products (the pipeline's default).

A part's share is its step's gain in mean accuracy over the nine slots, divided by the whole
gain from step 0 to step 4 (the order is the one above; another order would split the gain
differently where parts interact). Models are content-keyed under ``<home>/bench/label_gains``.

    python -m benchmarks.label_gains --home .mavp
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from pipeline.sources.registry import vision_sources
from assets.saliency import backbone_overrides
from pipeline.distant.config import DEFAULT_SLOT_CLASSIFIERS
from pipeline.distant.selection import choose_slot_classifiers
from pipeline.distant.strategies import train_source
from pipeline.home import HomeLayout
from pipeline.mavp.labeling import LabelConfig, label_images
from pipeline.mavp.quality import truth_accuracy
from pipeline.mavp.text_values import text_values
from pipeline.saliency.config import RegionConfig
from pipeline.schema import default_schema

EARLIER_SWIN = {"kind": "finetune", "epochs": 20, "batch_size": 32, "lr": 1e-3}   # the classifiers before issue 12
STEPS = [("0 earlier Swin 48 px", EARLIER_SWIN, None, LabelConfig(folds=0, mirror=False)),
         ("1d + ImageNet backbone (48 px)", {"augment": False}, 48, LabelConfig(folds=0, mirror=False)),
         ("1a + 192 px", {"augment": False}, None, LabelConfig(folds=0, mirror=False)),
         ("1b + augmentation", {}, None, LabelConfig(folds=0)),
         ("1c + text-anchored adaptation", {}, None, LabelConfig())]


def label_step(layout: HomeLayout, overrides: dict, image_size: int | None, labelling: LabelConfig,
               slots: list[str]) -> pd.DataFrame:
    schema = default_schema()
    backbone = RegionConfig(**backbone_overrides(layout))
    if image_size:
        backbone = replace(backbone, image_size=image_size)
    records = {}
    for source, settings in ((s.kind, s.training) for s in vision_sources()):
        config = settings(**overrides)
        if source == "ifashion" and overrides.get("kind") == "finetune":
            config = replace(config, epochs=10)          # its earlier setting
        cache = layout.cache("pixels" if config.kind == "finetune" else "features")
        records[source] = train_source(source, pd.read_parquet(layout.table(f"{source}_records")), config,
                                       layout.root / "bench" / "label_gains", cache, backbone)
    chosen = choose_slot_classifiers(records, DEFAULT_SLOT_CLASSIFIERS, slots, schema)
    chosen["label_to_value"] = chosen["label_to_value"].map(json.loads)
    mepave = pd.read_parquet(layout.table("mepave_sentences"))
    products = mepave[["cid", "category"]].drop_duplicates("cid").astype(str)
    images = pd.read_parquet(layout.table("mepave_image_records"), columns=["cid", "image_path"])
    labels = label_images(products, images, chosen, slots, schema, layout.root / "cache",
                          text_values(mepave, schema).valid, labelling).labels
    return truth_accuracy(labels, pd.read_parquet(layout.sample.truth), slots)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    args = parser.parse_args()
    layout = HomeLayout(args.home)
    slots = json.loads((layout.root / "saliency" / "partition.json").read_text(encoding="utf-8"))["partition"]["image"]
    table = {}
    for name, overrides, size, labelling in STEPS:
        t0 = time.perf_counter()
        scored = label_step(layout, overrides, size, labelling, slots).set_index("slot")
        table[name] = scored["truth_accuracy"]
        table.setdefault("majority", scored["majority_baseline"])
        print(f"{name}: mean {scored['truth_accuracy'].mean():.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    frame = pd.DataFrame(table)
    print(frame.round(3).to_string())
    means = frame.mean()
    print("mean", means.round(4).to_dict())
    names = [s[0] for s in STEPS]
    total = means[names[-1]] - means[names[0]]
    for before, after in zip(names, names[1:]):
        gain = means[after] - means[before]
        print(f"share of {after.split()[0]}: {gain:+.4f} of {total:+.4f} = {100 * gain / total:.0f} %")


if __name__ == "__main__":
    main()
