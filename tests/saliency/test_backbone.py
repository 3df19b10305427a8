"""Grid backbone pretraining on the vision sources' labels."""

from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from PIL import Image

from models.backbones import build_backbone, load_weights
from pipeline.saliency.backbone import (BackbonePretrainConfig, pretrain_grid_backbone, pretraining_examples,
                                        select_examples, training_key)
from pipeline.schema import default_schema


def vision_table(folder, n=24):
    rows = []
    colors = {"红色": (220, 30, 30), "蓝色": (30, 30, 220)}
    for i in range(n):
        value = list(colors)[i % 2]
        path = folder / f"{i}.jpg"
        Image.fromarray(np.full((40, 40, 3), colors[value], np.uint8)).save(path)
        rows.append({"source": "ifashion", "image_path": str(path), "slot": "color", "values": [value]})
    rows.append({"source": "ifashion", "image_path": str(folder / "0.jpg"), "slot": "color",
                 "values": ["红色", "蓝色"]})                               # multi-label: not used
    rows.append({"source": "ifashion", "image_path": str(folder / "1.jpg"), "slot": "color",
                 "values": ["not-a-colour"]})                             # not in the vocabulary
    return pd.DataFrame(rows)


def test_single_valued_examples_train_a_loadable_backbone(tmp_path):
    schema = default_schema()
    examples = pretraining_examples([vision_table(tmp_path)], schema)
    assert len(examples) == 24 and set(examples["value"]) == {"红色", "蓝色"}
    config = BackbonePretrainConfig(backbone="mavp_cnn", multiscale=False, weights=None, image_size=32, epochs=25,
                                    batch_size=8, lr=1e-2, holdout=0.25)
    selected = select_examples(examples, config)
    key = training_key(selected, config)
    assert key == training_key(select_examples(examples, config), config)
    assert key != training_key(selected, replace(config, epochs=7))
    info = pretrain_grid_backbone(selected, schema, config, tmp_path / "bb.pt")
    assert info["holdout"] == 6 and info["holdout_accuracy_by_slot"]["color"] == 1.0
    backbone = load_weights(build_backbone(config.backbone), tmp_path / "bb.pt")
    assert backbone(torch.zeros(1, 3, 32, 32)).shape[1] == backbone.out_channels
