"""Text-anchored adaptation: learns MEPAVE's images from the anchors, and stays out-of-fold."""

import numpy as np
import pandas as pd

from pipeline.mavp.adapt import AdaptConfig, adapt_slot, anchor_values, product_folds

VALUES = ["圆头", "尖头"]


def world(n=200, seed=0):
    """Uninformative source probabilities; the embedding's first feature tells the value."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    z = rng.normal(0, 1, (n, 8)).astype(np.float32)
    z[:, 0] = np.where(truth == 1, 2.0, -2.0) + rng.normal(0, 0.3, n)
    views = np.stack([z, z + rng.normal(0, 0.1, z.shape).astype(np.float32)])
    probs = np.full((2, n, 2), 0.5, np.float32)
    cids = [f"c{i:03d}" for i in range(n)]
    return truth, views, probs, cids


def test_folds_come_from_the_cid_so_adding_products_moves_none():
    cids = [f"c{i}" for i in range(100)]
    first = product_folds(cids, 5, 0)
    assert set(first) == set(range(5))
    np.testing.assert_array_equal(product_folds(cids + ["new1", "new2"], 5, 0)[:100], first)
    assert (product_folds(cids, 5, 1) != first).any()


def test_anchor_is_the_value_the_sentences_name_most_and_ties_are_left_out():
    text = pd.DataFrame({"cid": ["a", "a", "a", "b", "b", "c"], "slot": ["toecap"] * 5 + ["color"],
                         "value": ["圆头", "圆头", "尖头", "圆头", "尖头", "红色"]})
    assert anchor_values(text, "toecap") == {"a": "圆头"}


def test_adaptation_learns_from_anchors_and_no_product_is_labelled_by_its_own_text():
    truth, views, probs, cids = world()
    anchors = {c: VALUES[t] for c, t, keep in zip(cids, truth, np.arange(len(cids)) % 2 == 0) if keep}
    config = AdaptConfig(folds=5, steps=200, lr=0.05, min_anchors=10)
    adapted = adapt_slot(probs, views, cids, VALUES, anchors, config)
    assert adapted.stats == {"anchors": 100, "folds": 5, "adapted": True}
    assert (adapted.probabilities.argmax(1) == truth).mean() > 0.95
    # out-of-fold: a product's own anchor never reaches its label, so a wrong anchor changes nothing for it
    lied = dict(anchors, c000=VALUES[1 - truth[0]])
    again = adapt_slot(probs, views, cids, VALUES, lied, config)
    np.testing.assert_allclose(again.probabilities[0], adapted.probabilities[0])
    others = product_folds(cids, 5, 0) != product_folds(cids, 5, 0)[0]
    assert not np.allclose(again.probabilities[others], adapted.probabilities[others])


def test_too_few_anchors_keep_the_source_classifier():
    truth, views, probs, cids = world()
    probs[0, :, 0], probs[0, :, 1] = 0.8, 0.2
    adapted = adapt_slot(probs, views, cids, VALUES, {cids[0]: VALUES[0]}, AdaptConfig(min_anchors=10))
    assert not adapted.stats["adapted"]
    np.testing.assert_allclose(adapted.probabilities, probs.mean(axis=0))
