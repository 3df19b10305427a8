"""Training strategies on a tiny source: they learn, reuse on rerun, and resume bit-identically."""

import dataclasses

import numpy as np
import pytest
import torch

from models.attributes import load_classifier
from pipeline.distant.config import IFashionTraining, UTZap50kTraining
from pipeline.distant.data import load_source_images
from pipeline.distant.report import source_table
from pipeline.distant.strategies import train_source
from pipeline.distant.train import augment, train_classifier, value_hits

TINY = dict(kind="finetune", image_size=16, patch_size=4, window_size=2, embed_dim=16, depths=(1, 1), num_heads=(1, 2),
            epochs=8, batch_size=8, lr=3e-3, patience=None, decode_workers=1)


def ifashion_config(**kw):
    return IFashionTraining(**{**TINY, "tasks": ("color", "finish"), **kw})


def test_ifashion_strategies_learn_colour_and_rerun_reuses(tiny_source, tmp_path):
    config = ifashion_config()
    record = train_source("ifashion", tiny_source, config, tmp_path / "models", tmp_path / "cache")
    assert not record["reused"]
    results = {(r["model"], r["task"]): r for r in record["results"]}
    assert set(results) == {("single_label-color", "color"), ("multi_label_mix-color", "color"),
                            ("single_label-finish", "finish"), ("multi_label_mix-finish", "finish"),
                            ("multi_label-finish", "finish")}     # no colour image has two labels
    assert results[("single_label-color", "color")]["test_accuracy"] >= 0.8
    assert results[("single_label-color", "color")]["test_value_accuracy"] >= 0.8
    assert np.isnan(results[("single_label-finish", "finish")]["test_value_accuracy"])   # finish has no slot
    stats = {t["task"]: t for t in record["tasks"]}
    assert stats["finish"]["multi_label_images"] == 15 and stats["color"]["images"] == 60
    table = source_table(record)
    assert list(table.columns) == ["ifashion", "color", "finish"]
    assert table.iloc[0].tolist() == ["#imgs", 60, 60] and "Result (multi-label)" in set(table["ifashion"])
    model, extra = load_classifier(results[("single_label-color", "color")]["checkpoint"])
    assert extra["image_size"] == 16 and [h.name for h in model.task_heads] == ["color"]

    again = train_source("ifashion", tiny_source, config, tmp_path / "models", tmp_path / "cache")
    assert again["reused"] and again["key"] == record["key"]
    changed = train_source("ifashion", tiny_source, dataclasses.replace(config, epochs=2), tmp_path / "models",
                           tmp_path / "cache")
    assert not changed["reused"] and changed["key"] != record["key"]


@pytest.mark.parametrize("threshold, singles", [(0.0, set()), (1.01, {"color", "finish"})])
def test_utzap_joint_then_single_task_below_threshold(tiny_source, tmp_path, threshold, singles):
    config = UTZap50kTraining(**{**TINY, "epochs": 1, "tasks": ("color", "finish"), "single_task_below": threshold,
                                     "single_task_candidates": ("color", "finish")})
    record = train_source("utzap50k", tiny_source, config, tmp_path / "models", tmp_path / "cache")
    joint = next(m for m in record["models"] if m["strategy"] == "joint")
    assert joint["tasks"] == ["color", "finish"] and joint["row_modes"] == {"color": "all", "finish": "all"}
    assert {m["tasks"][0] for m in record["models"] if m["strategy"] == "single_task"} == singles


def test_interrupted_training_resumes_to_the_same_weights(tiny_source, tmp_path):
    data = load_source_images(tiny_source, ["color", "finish"], 16, 0, tmp_path / "cache", workers=1)
    config = ifashion_config(epochs=4)
    args = (data, "m", "multi_task", ["color", "finish"], {"color": "all", "finish": "all"}, config)
    straight = train_classifier(*args, tmp_path / "straight")
    train_classifier(*args, tmp_path / "resumed", stop_after_epochs=2)        # "killed" after epoch 2
    resumed = train_classifier(*args, tmp_path / "resumed")
    assert resumed.epochs == straight.epochs == 4
    a, _ = load_classifier(straight.path)
    b, _ = load_classifier(resumed.path)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, msg=name)


def test_value_hits_sum_labels_that_share_a_value():
    # labels Long / Extra Long both mean 长袖: 0.3 + 0.3 beats Short's 0.4
    probs = np.array([[0.4, 0.3, 0.3], [0.9, 0.05, 0.05]])
    targets = np.array([[0, 1, 0], [0, 0, 1]], dtype=np.float32)
    hits = value_hits(probs, targets, ["短袖", "长袖", "长袖"])
    assert hits.tolist() == [1.0, 0.0]
    assert np.isnan(value_hits(probs, targets, ["短袖", None, None])).all()


def test_augment_keeps_shape_and_only_mirrors_or_shifts():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    torch.manual_seed(0)
    y = augment(x, 0)
    for i in range(2):
        assert torch.equal(y[i], x[i]) or torch.equal(y[i], x[i].flip(-1))
    shifted = augment(x, 2)
    assert shifted.shape == x.shape and set(shifted.unique().tolist()) <= set(x.unique().tolist())
