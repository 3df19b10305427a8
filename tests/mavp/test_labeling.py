"""From a classifier's class probabilities to one slot value and its confidence."""

import logging
import re

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from models.attributes import BackboneSpec, TaskHead, build_attribute_classifier, save_classifier
from pipeline.mavp.labeling import applicable_image_slots, label_images, slot_value_probabilities
from pipeline.mavp.quality import table_v, table_vi, truth_accuracy
from pipeline.progress import LOGGER_NAME
from pipeline.schema import default_schema

SLEEVES = ["Cup Sleeves", "Long Sleeves", "Extra Long Sleeves", "Invisible"]
MAP = {"s\tCup Sleeves": "短袖", "s\tLong Sleeves": "长袖", "s\tExtra Long Sleeves": "长袖", "s\tInvisible": None}


def test_softmax_labels_of_one_value_add_up_and_unmapped_labels_count_for_nothing():
    probs = {"s": np.array([[0.4, 0.3, 0.25, 0.05]])}
    values, p = slot_value_probabilities(probs, MAP, {"s": SLEEVES}, {"s": False})
    assert values == ["短袖", "长袖"]
    np.testing.assert_allclose(p, [[0.4, 0.55]])


def test_sigmoid_labels_take_their_maximum_and_several_heads_mix_by_their_image_counts():
    probs = {"s": np.array([[0.4, 0.3, 0.35, 0.9]])}
    _, p = slot_value_probabilities(probs, MAP, {"s": SLEEVES}, {"s": True})
    np.testing.assert_allclose(p, [[0.4, 0.35]])
    two_heads = {"a": np.array([[0.7, 0.3]]), "b": np.array([[0.2, 0.8]])}
    label_map = {"a\tx": "圆领", "a\ty": "V领", "b\tz": "高领", "b\tw": "V领"}
    classes, multi = {"a": ["x", "y"], "b": ["z", "w"]}, {"a": False, "b": False}
    values, p = slot_value_probabilities(two_heads, label_map, classes, multi)
    assert values == ["V领", "圆领", "高领"]
    np.testing.assert_allclose(p, [[0.55, 0.35, 0.1]])
    # head a's family is three times as common: its answer weighs three times as much
    _, p = slot_value_probabilities(two_heads, label_map, classes, multi, {"a": 300, "b": 100})
    np.testing.assert_allclose(p, [[0.425, 0.525, 0.05]])


def test_only_the_category_s_slots_are_labelled():
    schema = default_schema()
    image_slots = ["color", "neckline", "pant_length", "toecap"]
    assert applicable_image_slots("Pants", image_slots, schema) == ["color", "pant_length"]
    assert applicable_image_slots("Boots", image_slots, schema) == ["color", "toecap"]


def test_table_v_vi_and_truth_accuracy_on_a_hand_made_build():
    schema = default_schema()
    partition = {"image": ["color"], "text": [s for s in schema.slot_keys if s != "color"]}
    dataset = pd.DataFrame({"cid": ["a", "a", "b", "c"], "sid": ["1", "2", "3", "4"],
                            "category": ["Pants", "Pants", "Shoes", "Shoes"],
                            "split": ["train", "train", "validation", "train"],
                            "color": ["红色", "红色", "黑色", "none"], "color_source": ["image"] * 3 + ["none"]})
    text = pd.DataFrame({"cid": ["a", "b", "c"], "sid": ["1", "3", "4"], "slot": ["color"] * 3,
                         "value": ["红色", "白色", "黑色"]})
    truth = pd.DataFrame({"cid": ["a", "b", "c"], "color": ["红色", "黑色", "黑色"]})
    v = table_v(dataset, partition, schema).set_index("category")
    assert v.loc["Pants", ["products", "instances", "image_slots"]].tolist() == [1, 2, 1]
    assert v.loc["All", "instances"] == 4
    vi = table_vi(dataset, text, ["color"], truth).set_index("split")
    assert vi.loc["train", "support"] == 1 and vi.loc["train", "relative_accuracy"] == 1.0
    # b: the sentence says 白色, the image says 黑色, the truth is 黑色: relative 0, truth 1
    assert vi.loc["validation", "relative_accuracy"] == 0.0
    assert vi.loc["validation", "truth_accuracy_same_rows"] == 1.0
    assert vi.loc["validation", "annotation_matches_truth"] == 0.0
    labels = pd.DataFrame({"cid": ["a", "b", "c"], "slot": ["color"] * 3, "value": ["红色", "白色", "none"],
                           "source": ["image", "image", "none"]})
    row = truth_accuracy(labels, truth, ["color"]).iloc[0]
    assert row["products"] == 2 and row["truth_accuracy"] == pytest.approx(0.5)


def _tiny_colour_classifier(folder) -> pd.DataFrame:
    """The choice table of one slot (color) whose classifier is a tiny random-init Swin at 16 px."""
    torch.manual_seed(0)
    tiny = BackboneSpec("swin_tiny_patch4_window7_224", (("img_size", 16), ("patch_size", 4), ("window_size", 2),
                                                          ("embed_dim", 16), ("depths", (1, 1)), ("num_heads", (1, 2))))
    checkpoint = folder / "model.pt"
    save_classifier(build_attribute_classifier(tiny, [TaskHead("color", ("Red", "Blue"), False)]), checkpoint,
                    extra={"image_size": 16})
    return pd.DataFrame([{"slot": "color", "status": "ready", "checkpoint": str(checkpoint), "tasks": ["color"],
                          "label_to_value": {"color\tRed": "红色", "color\tBlue": "蓝色"}, "task_weights": None}])


def test_labeling_decodes_and_labels_every_image_with_progress(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    chosen = _tiny_colour_classifier(tmp_path)
    paths = [tmp_path / f"{cid}.png" for cid in "abc"]
    for i, path in enumerate(paths):
        Image.fromarray(np.full((24, 24, 3), 80 * i, np.uint8)).save(path)
    products = pd.DataFrame({"cid": list("abcd"), "category": ["Pants"] * 4})           # d has no image
    images = pd.DataFrame({"cid": list("abc"), "image_path": [str(p) for p in paths]})
    labels = label_images(products, images, chosen, ["color"], default_schema(), None, workers=1).labels
    assert labels["source"].tolist() == ["image"] * 3 + ["none"]
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert [re.sub(r", [\d.]+ image/s, took 00:0\d$", "", line) for line in lines] == [
        "decoding images (mepave_images, 16 px): 3/3 (100%)",
        "labeling color: 3/3 (100%)", "labeling color: 3/3 (100%)"]          # the plain and the mirrored view


def test_shards_of_the_images_scored_apart_merge_to_the_whole_and_label_alike(tmp_path):
    from pipeline.mavp.labeling import (labels_from_predictions, load_predictions, merge_predictions,
                                        predict_images, save_predictions)
    from pipeline.shards import shard_mask

    chosen = _tiny_colour_classifier(tmp_path)
    rng = np.random.default_rng(0)
    cids = [f"p{i:02d}" for i in range(30)]
    for cid in cids:
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(tmp_path / f"{cid}.png")
    images = pd.DataFrame({"cid": cids, "image_path": [str(tmp_path / f"{c}.png") for c in cids]})
    products = pd.DataFrame({"cid": cids, "category": ["Pants"] * len(cids)})
    whole = predict_images(images, chosen, None, workers=1)
    parts = []
    for shard in range(3):
        mine = images[shard_mask(images["cid"], shard, 3)]
        assert 0 < len(mine) < len(images)
        parts.append(load_predictions(save_predictions(predict_images(mine, chosen, None, workers=1),
                                                       tmp_path / f"part{shard}.npz")))
    merged = merge_predictions(parts)
    assert merged["color"].cids == whole["color"].cids == sorted(cids)
    np.testing.assert_allclose(merged["color"].probabilities, whole["color"].probabilities, atol=1e-6)
    np.testing.assert_allclose(merged["color"].embedding, whole["color"].embedding, atol=1e-5)
    schema = default_schema()
    a = labels_from_predictions(products, merged, ["color"], schema).labels
    b = labels_from_predictions(products, whole, ["color"], schema).labels
    pd.testing.assert_frame_equal(a.drop(columns=["confidence", "reliability"]),
                                  b.drop(columns=["confidence", "reliability"]))
    np.testing.assert_allclose(a["reliability"], b["reliability"], atol=1e-5)
