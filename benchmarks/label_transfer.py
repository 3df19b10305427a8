"""How well frozen ImageNet features label MEPAVE's image slots (groundwork for issue 12).

On a home where the saliency stage has run (so the sources, the MEPAVE instances and the
generator's truth are there), for each image slot: linear heads on frozen features of the
default region backbone (EfficientNet-Lite0, ImageNet weights, every stage; the mean over the
grid and a ``--pool`` x ``--pool`` average-pooled grid), trained on mirrored copies too and
scored on both orientations. Printed per slot, as accuracy against the generator's truth on
every MEPAVE product the slot applies to:

* ``source``: heads trained on the vision sources' labels only (distant supervision);
* ``anchors-oof``: heads trained on MEPAVE products whose sentence names the slot's value,
  cross-fitted over 5 folds of products, so that no product is labelled by a head that saw it;
* ``both-oof``: sources and the other folds' anchors together.

    python -m benchmarks.label_transfer --home /tmp/b2 [--pool 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from assets.resources import MavpHome
from models.regions import GridRegions
from pipeline.images import load_rgb
from pipeline.saliency.backbone import initial_backbone, pretraining_examples
from pipeline.saliency.config import BackbonePretrainConfig
from pipeline.saliency.instances import masked_instances
from pipeline.schema import default_schema

VISION = ("fashionai", "utzap50k", "ifashion", "crawl")
FOLDS = 5


def pooled_features(paths: list[str], pool: int, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(N, C * (1 + pool^2)) features of each image and of its mirror image: the region
    extractor's grid cells, averaged whole and over a ``pool`` x ``pool`` grid."""
    config = BackbonePretrainConfig()
    grid = GridRegions(initial_backbone(config), image_size=config.image_size)

    def pooled(cells: list[np.ndarray]) -> torch.Tensor:
        maps = torch.from_numpy(np.stack(cells))                     # (B, h*w, C)
        side = int(round(maps.shape[1] ** 0.5))
        fmap = maps.transpose(1, 2).reshape(len(cells), -1, side, side)
        return torch.cat([fmap.mean((2, 3)), F.adaptive_avg_pool2d(fmap, pool).flatten(1)], 1)

    plain, mirrored = [], []
    for i in range(0, len(paths), chunk):
        images = [load_rgb(p) for p in paths[i:i + chunk]]
        plain.append(pooled(grid.extract(images)))
        mirrored.append(pooled(grid.extract([np.ascontiguousarray(im[:, ::-1]) for im in images])))
    return torch.cat(plain).numpy(), torch.cat(mirrored).numpy()


def linear_head(x: torch.Tensor, y: torch.Tensor, classes: int, steps: int = 300) -> torch.nn.Linear:
    torch.manual_seed(0)
    head = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.Adam(head.parameters(), 3e-3, weight_decay=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(head(x), y).backward()
        opt.step()
    return head


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--pool", type=int, default=3)
    args = parser.parse_args()
    layout, schema = MavpHome(home=str(args.home)).layout, default_schema()
    t0 = time.perf_counter()
    images = pd.read_parquet(layout.table("mepave_image_records"))
    mepave, mepave_mirror = pooled_features(list(images["image_path"]), args.pool)
    examples = pretraining_examples([pd.read_parquet(layout.table(f"{k}_records")) for k in VISION], schema)
    paths = sorted(set(examples["image_path"]))
    source, source_mirror = pooled_features(paths, args.pool)
    print(f"features of {len(images)} MEPAVE and {len(paths)} source images, mirrored too: "
          f"{time.perf_counter() - t0:.0f} s")
    everything = np.concatenate([mepave, source])
    mean, std = everything.mean(0), everything.std(0) + 1e-5

    def z(a: np.ndarray) -> torch.Tensor:
        return torch.tensor((a - mean) / std, dtype=torch.float32)

    row = {c: i for i, c in enumerate(images["cid"])}
    source_row = {p: i for i, p in enumerate(paths)}
    truth = pd.read_parquet(layout.sample.truth)
    truth = truth[truth["cid"].isin(row)]
    instances = masked_instances(pd.read_parquet(layout.table("mepave_records")), schema).valid
    print("slot            majority  source  anchors-oof  both-oof")
    for slot in [s for s, decision in schema.paper_partition().items() if decision == "image"]:
        values = list(schema.slot(slot).values)
        rows = truth[truth[slot].notna()]
        at = np.array([row[c] for c in rows["cid"]])
        x, x_mirror = z(mepave[at]), z(mepave_mirror[at])
        y = np.array([values.index(v) for v in rows[slot]])
        ex = examples[examples["slot"] == slot]
        si = np.array([source_row[p] for p in ex["image_path"]])
        xs = torch.cat([z(source[si]), z(source_mirror[si])])
        ys = torch.tensor([values.index(v) for v in ex["value"]] * 2)

        def predict(head: torch.nn.Linear, sel) -> np.ndarray:
            return (head(x[sel]) + head(x_mirror[sel])).argmax(-1).numpy()

        named = instances[instances["slot"] == slot].drop_duplicates("cid")
        anchor = dict(zip(named["cid"], named["value"]))
        cids = rows["cid"].to_numpy()
        fold = np.arange(len(cids)) % FOLDS
        fold = fold[np.random.default_rng(0).permutation(len(cids))]
        anchors_oof, both_oof = np.zeros(len(cids), int), np.zeros(len(cids), int)
        for k in range(FOLDS):
            train = np.array([i for i, c in enumerate(cids) if fold[i] != k and c in anchor])
            xa = torch.cat([x[train], x_mirror[train]])
            ya = torch.tensor([values.index(anchor[cids[i]]) for i in train] * 2)
            held = fold == k
            anchors_oof[held] = predict(linear_head(xa, ya, len(values)), held)
            both_oof[held] = predict(linear_head(torch.cat([xs, xa]), torch.cat([ys, ya]), len(values)), held)
        majority = (y == np.bincount(y).argmax()).mean()
        source_acc = (predict(linear_head(xs, ys, len(values)), slice(None)) == y).mean()
        print(f"{slot:15s} {majority:8.2f} {source_acc:7.2f} {(anchors_oof == y).mean():12.2f} "
              f"{(both_oof == y).mean():9.2f}")


if __name__ == "__main__":
    main()
