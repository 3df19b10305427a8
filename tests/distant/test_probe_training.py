"""The sample profile's classifiers: heads over a frozen backbone's pooled grid features, trained on
an augmented view of each training image, calibrated on validation, reused on rerun."""

import dataclasses

import numpy as np
import pytest
import torch

from models.attributes import load_classifier
from models.augment import AugmentConfig
from models.probe import GridProbe
from pipeline.distant.config import IFashionTraining
from pipeline.distant.features import feature_extractor
from pipeline.distant.strategies import train_source
from pipeline.distant.train import fit_temperature
from pipeline.images import load_rgb



def config(**kw):
    return IFashionTraining(**{"kind": "grid_probe", "pool": 1, "epochs": 30, "batch_size": 16, "lr": 1e-2,
                               "patience": None, "decode_workers": 1, "tasks": ("color", "finish"), **kw})


def test_probe_learns_colour_from_augmented_views_and_rerun_reuses(tiny_source, tmp_path, backbone):
    torch.manual_seed(0)
    record = train_source("ifashion", tiny_source, config(), tmp_path / "models", tmp_path / "cache", backbone)
    results = {(r["model"], r["task"]): r for r in record["results"]}
    assert results[("single_label-color", "color")]["test_accuracy"] >= 0.8
    assert record["data"]["images"] == 60 and record["data"]["rejected_images"] == 1     # the corrupt file
    model, extra = load_classifier(results[("single_label-color", "color")]["checkpoint"])
    assert isinstance(model, GridProbe)
    assert extra["features"] == {"backbone": dataclasses.asdict(backbone), "pool": 1}
    assert extra["temperatures"]["color"] > 0
    history = next(m for m in record["models"] if m["name"] == "single_label-color")["history"]
    assert len(history) == 30 and all("val_score" in h for h in history)       # the validation curve
    again = train_source("ifashion", tiny_source, config(), tmp_path / "models", tmp_path / "cache", backbone)
    assert again["reused"] and again["key"] == record["key"]
    plain = train_source("ifashion", tiny_source, config(augment=False), tmp_path / "models", tmp_path / "cache",
                         backbone)
    assert plain["key"] != record["key"]


def test_a_probe_needs_the_backbone(tiny_source, tmp_path):
    with pytest.raises(ValueError, match="region backbone"):
        train_source("ifashion", tiny_source, config(), tmp_path / "models", tmp_path / "cache")


def test_the_augmented_view_is_drawn_from_the_image_itself(tiny_source, backbone):
    image = load_rgb(tiny_source["image_path"].iloc[0])
    augmented = feature_extractor(backbone, 1, AugmentConfig(), seed=0)
    first, again = augmented.view(image), augmented.view(image)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (32, 32, 3)
    assert not np.array_equal(feature_extractor(backbone, 1, AugmentConfig(), seed=1).view(image), first)
    mirrored = feature_extractor(backbone, 1, mirror=True).view(image)
    np.testing.assert_array_equal(mirrored, feature_extractor(backbone, 1).view(image)[:, ::-1])


def test_temperature_undoes_overconfidence():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 2000)
    calibrated = rng.normal(0, 1, (2000, 3))
    calibrated[np.arange(2000), labels] += 1.0
    assert fit_temperature(calibrated, labels) == pytest.approx(1.0, abs=0.15)
    assert fit_temperature(4 * calibrated, labels) == pytest.approx(4.0, rel=0.15)
