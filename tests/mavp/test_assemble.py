"""Merging text values and image labels into the contract's rows."""

import math

import numpy as np
import pandas as pd

from pipeline.mavp.assemble import apply_min_reliability, assemble_rows, assign_splits, contract_columns
from pipeline.schema import default_schema

SCHEMA = default_schema()
PARTITION = SCHEMA.paper_partition()
PARTITION = {"image": [s for s, m in PARTITION.items() if m == "image"],
             "text": [s for s, m in PARTITION.items() if m == "text"]}


def build():
    records = pd.DataFrame({"cid": ["p1", "p1", "s1"], "sid": ["a", "b", "c"],
                            "category": ["Pants", "Pants", "Shoes"], "text": ["t1", "t2", "t3"]})
    text = pd.DataFrame({"cid": ["p1", "p1", "s1"], "sid": ["a", "a", "c"], "slot": ["material", "color", "pant_type"],
                         "value": ["棉", "红色", "阔腿裤"]})
    labels = pd.DataFrame({"cid": ["p1", "p1", "s1", "s1"], "slot": ["color", "pant_length", "color", "toecap"],
                           "value": ["蓝色", "长裤", "none", "圆头"], "confidence": [0.9, 0.6, np.nan, 0.7],
                           "reliability": [0.8, 0.3, np.nan, 0.6],
                           "source": ["image", "image", "none", "image"], "reason": ["", "", "no_usable_image", ""]})
    return assemble_rows(records, text, labels, {"p1": "images/p1.jpg"}, PARTITION, SCHEMA)


def test_rows_follow_the_contract():
    rows = build()
    assert list(rows.columns) == contract_columns(SCHEMA, sorted(PARTITION["image"]))
    assert len(rows.columns) == 5 + 2 * 25 + 2 * 9
    first = rows.iloc[0]
    assert (first["material"], first["material_source"]) == ("棉", "text")
    # colour is an image slot: the image label wins over the sentence's 红色
    assert (first["color"], first["color_source"], first["color_confidence"], first["color_reliability"]) == (
        "蓝色", "image", np.float32(0.9), np.float32(0.8))
    assert (first["pant_length"], first["pant_length_source"]) == ("长裤", "image")
    second = rows.iloc[1]                                 # same product, no text values: image slots still filled
    assert second["material"] == "none" and second["material_source"] == "none" and second["color"] == "蓝色"
    shoe = rows.iloc[2]
    assert shoe["image"] is pd.NA or pd.isna(shoe["image"])
    assert (shoe["color"], shoe["color_source"]) == ("none", "none") and np.isnan(shoe["color_confidence"])
    assert shoe["toecap"] == "圆头"
    # pant_type does not apply to Shoes: none even though the sentence tagged one
    assert (shoe["pant_type"], shoe["pant_type_source"]) == ("none", "none")


def test_splits_grouped_by_product_or_random_over_instances():
    rows = pd.DataFrame({"cid": [f"c{i // 4}" for i in range(400)], "sid": [str(i) for i in range(400)]})
    grouped = assign_splits(rows, "grouped", 0)
    assert rows.assign(s=grouped).groupby("cid")["s"].nunique().max() == 1
    random = assign_splits(rows, "random", 0)
    assert rows.assign(s=random).groupby("cid")["s"].nunique().max() > 1
    assert (assign_splits(rows, "grouped", 0) == grouped).all()


def test_labels_against_majority_uses_truth_then_table_vi():
    from pipeline.mavp.quality import labels_against_majority

    truth = {"truth_accuracy": [{"slot": "color", "products": 50, "truth_accuracy": 0.9, "majority_baseline": 0.3},
                                {"slot": "closure", "products": 50, "truth_accuracy": 0.3, "majority_baseline": 0.4},
                                {"slot": "toecap", "products": 0, "truth_accuracy": None, "majority_baseline": None}]}
    scored = labels_against_majority(truth).set_index("slot")
    assert scored["basis"].eq("truth").all()
    assert scored.loc["color", "beats_majority"] and not scored.loc["closure", "beats_majority"]
    assert not scored.loc["toecap", "beats_majority"]               # nothing scored is not a pass
    real = {"truth_accuracy": None, "table_vi": [
        {"slot": "color", "split": "train", "support": 30, "relative_accuracy": 0.8, "majority_baseline": 0.5},
        {"slot": "color", "split": "validation", "support": 10, "relative_accuracy": 0.2, "majority_baseline": 0.5},
        {"slot": "neckline", "split": "train", "support": 20, "relative_accuracy": 0.6, "majority_baseline": 0.4}]}
    pooled = labels_against_majority(real).set_index("slot")
    assert pooled.loc["color", "support"] == 40 and math.isclose(pooled.loc["color", "accuracy"], 0.65)
    assert pooled.loc["color", "beats_majority"] and pooled.loc["neckline", "beats_majority"]
    assert pooled["basis"].eq("table_vi").all()


def test_min_reliability_turns_weak_labels_into_none_and_counts_them():
    labels = pd.DataFrame({"cid": ["p1", "p1", "s1"], "slot": ["color", "pant_length", "toecap"],
                           "value": ["蓝色", "长裤", "圆头"], "confidence": [0.9, 0.6, 0.7],
                           "reliability": [0.8, 0.3, 0.5], "source": ["image", "image", "image"], "reason": ["", "", ""]})
    kept, removed = apply_min_reliability(labels, 0.5)
    assert removed == {"pant_length": 1}
    assert kept.loc[1, ["value", "source", "reason"]].tolist() == ["none", "none", "below_min_reliability"]
    assert kept.loc[[0, 2], "value"].tolist() == ["蓝色", "圆头"]                  # 0.5 itself is kept
    assert apply_min_reliability(labels, 0.0)[1] == {}
