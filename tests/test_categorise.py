"""Categories from images, for the MEPAVE products no sentence names."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.categorise import (CategoriserConfig, category_examples, coverage, final_categories, fit_categoriser,
                                 image_categories)
from pipeline.schema import default_schema


def test_examples_take_each_sources_known_categories():
    tables = {
        "fashionai": pd.DataFrame({"image_id": ["a", "b", "c"], "image_path": ["a", "b", "c"],
                                   "task": ["skirt_length_labels", "pant_length_labels", "collar_design_labels"]}),
        "utzap50k": pd.DataFrame({"image_id": ["d", "d", "e"], "image_path": ["d", "d", "e"], "task": ["ToeStyle"] * 3,
                                  "category": ["Boots", "Boots", "Sandals"]}),
        "crawl": pd.DataFrame({"image_id": ["f"], "image_path": ["f"], "task": ["upper_height"]}),
        "ifashion": pd.DataFrame({"image_id": ["g"], "image_path": ["g"], "task": ["color"]}),   # no map: unused
    }
    examples = category_examples(tables, default_schema(), CategoriserConfig())
    assert dict(zip(examples["image_path"], examples["category"])) == {
        "a": "Dresses", "b": "Pants", "c": "Clothes", "d": "Boots", "e": "Shoes", "f": "Shoes"}
    capped = category_examples(tables, default_schema(), CategoriserConfig(max_per_category=1))
    assert capped["category"].value_counts().max() == 1 and len(capped) == 5


def test_a_separable_world_is_learned_and_the_threshold_holds():
    rng = np.random.default_rng(0)
    classes = ["Clothes", "Pants", "Shoes"]
    centres = rng.normal(0, 1, (3, 16)) * 4
    y = rng.integers(0, 3, 300)
    x = centres[y] + rng.normal(0, 1, (300, 16))
    model = fit_categoriser(x, [classes[i] for i in y], CategoriserConfig(steps=200))
    assert model.classes == ("Clothes", "Pants", "Shoes") and model.holdout_accuracy > 0.95
    probe = np.stack([centres[1], centres[1] * 0])           # a clear Pants, and a point in the middle
    out = image_categories(["p", "q"], model.probabilities(probe), model.classes, CategoriserConfig(min_confidence=0.9))
    assert out["category"].tolist()[0] == "Pants" and out["confidence"].iloc[0] >= 0.9
    assert pd.isna(out["category"].iloc[1]) == (out["confidence"].iloc[1] < 0.9)


def test_final_categories_keep_words_first_then_image_then_none():
    records = pd.DataFrame({"cid": ["t", "t", "o", "i", "n"], "sid": ["1", "2", "3", "4", "5"],
                            "category": pd.array(["Shoes", "Shoes", "Pants", None, None], dtype="string"),
                            "category_source": ["text", "text", "override", "", ""], "text": list("abcde")})
    by_image = pd.DataFrame({"cid": ["i", "n", "t"], "category": ["Boots", None, "Clothes"],
                             "confidence": [0.9, 0.4, 0.99]})
    products, sentences = final_categories(records, by_image)
    got = products.set_index("cid")
    assert got["by"].to_dict() == {"t": "text", "o": "override", "i": "image", "n": "none"}
    assert got["category"].fillna("-").to_dict() == {"t": "Shoes", "o": "Pants", "i": "Boots", "n": "-"}
    assert sentences.set_index("sid")["category"].fillna("-").to_dict() == {
        "1": "Shoes", "2": "Shoes", "3": "Pants", "4": "Boots", "5": "-"}
    truth = pd.DataFrame({"cid": ["t", "o", "i", "n"], "category": ["Shoes", "Pants", "Shoes", "Dresses"]})
    table = coverage(products, truth).set_index("by")
    assert table.loc["image", "products"] == 1 and table.loc["image", "accuracy"] == 0.0
    assert table.loc["text", "accuracy"] == 1.0 and table.loc["none", "products"] == 1


def test_no_image_decides_nothing():
    records = pd.DataFrame({"cid": ["t", "n"], "sid": ["1", "2"], "text": ["a", "b"],
                            "category": pd.array(["Shoes", None], dtype="string"), "category_source": ["text", ""]})
    empty = pd.DataFrame({"cid": pd.Series(dtype=str), "category": pd.Series(dtype=object),
                          "confidence": pd.Series(dtype=float)})
    products, sentences = final_categories(records, empty)
    assert products.set_index("cid")["by"].to_dict() == {"t": "text", "n": "none"}
    assert sentences["category"].isna().tolist() == [False, True]
