"""Region extractors: Faster R-CNN from a local checkpoint, grid cells of a backbone."""

import numpy as np
import pytest
import torch

from models.backbones import build_backbone
from models.regions import FasterRCNNRegions, GridRegions, save_faster_rcnn


@pytest.fixture(scope="module")
def two_images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (120, 100, 3), dtype=np.uint8), rng.integers(0, 255, (90, 140, 3), dtype=np.uint8)]


def test_faster_rcnn_gives_top_l_box_features(tmp_path, two_images):
    weights = save_faster_rcnn(tmp_path / "frcnn.pth", num_classes=5, seed=1)
    extractor = FasterRCNNRegions(weights=weights, top_l=6, min_size=160, max_size=240)
    assert extractor.model.roi_heads.box_predictor.cls_score.out_features == 5   # read from the file
    out = extractor.extract(two_images)
    assert [a.shape for a in out] == [(6, 1024), (6, 1024)]
    assert all(np.isfinite(a).all() for a in out)
    again = extractor.extract(two_images)
    np.testing.assert_allclose(out[0], again[0], rtol=1e-5, atol=1e-5)
    assert extractor.config()["top_l"] == 6 and extractor.dim == 1024


def test_grid_regions_are_feature_map_cells(two_images):
    torch.manual_seed(0)
    extractor = GridRegions(build_backbone("mavp_cnn", channels=(8, 16)), image_size=32)
    out = extractor.extract(two_images)                 # different input sizes are resized
    assert [a.shape for a in out] == [(64, 16), (64, 16)]
    assert extractor.dim == 16


def test_timm_backbone_by_name():
    backbone = build_backbone("resnet18", )
    fmap = backbone(torch.zeros(1, 3, 64, 64))
    assert fmap.shape[1] == backbone.out_channels == 512
