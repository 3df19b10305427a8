"""Predictor data handling: dev split by product, token dropout, one seed end to end."""

import numpy as np
import pandas as pd

from pipeline.saliency.predict import EncodedInstances, PredictorConfig, split_dev, train_and_validate
from pipeline.saliency.regions import RegionTable


def instances(n_products=12, per_product=4):
    rows = []
    for p in range(n_products):
        for j in range(per_product):
            split = "validation" if p < 3 else "train"
            text = f"经典的红色连衣裙{j}"
            rows.append({"cid": f"c{p}", "sid": f"s{p}-{j}", "split": split, "category": "Dresses",
                         "slot": "color", "value": "红色", "value_id": p % 3, "text": text, "start": 3, "end": 5})
    return pd.DataFrame(rows)


def test_dev_split_holds_out_whole_products():
    train = instances().query("split == 'train'")
    kept, dev = split_dev(train, 0.25, seed=0)
    assert len(kept) + len(dev) == len(train)
    assert not set(kept["cid"]) & set(dev["cid"]) and dev["cid"].nunique() == 2
    assert split_dev(train, 0.25, seed=0)[1]["cid"].tolist() == dev["cid"].tolist()
    assert split_dev(train, 0.0, seed=0)[1].empty


def test_token_dropout_spares_special_tokens_the_mask_and_padding():
    data = EncodedInstances(pd.DataFrame(index=range(2)), np.array([[2, 10, 11, 4, 12, 13, 3], [2, 4, 14, 3, 0, 0, 0]]),
                            np.array([7, 4]), np.array([3, 1]), np.array([0, 0]), np.array([0, 1]))
    batch = data.batch(np.array([0, 1]), None, token_dropout=1.0, unk_id=1, rng=np.random.default_rng(0))
    assert batch["input_ids"].tolist() == [[2, 1, 1, 4, 1, 1, 3], [2, 4, 1, 3, 0, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1] * 7, [1, 1, 1, 1, 0, 0, 0]]
    assert batch["mask_index"].tolist() == [3, 1]
    narrow = data.batch(np.array([1]), None)
    assert narrow["input_ids"].tolist() == [[2, 4, 14, 3]]              # padded to the batch's longest row


def test_one_seed_trains_and_predicts_every_validation_instance():
    inst = instances()
    rng = np.random.default_rng(0)
    regions = RegionTable([f"c{p}" for p in range(12)], rng.normal(size=(12, 4, 6)).astype(np.float32),
                          np.ones((12, 4), bool))
    config = PredictorConfig(epochs=2, batch_size=8, hidden_size=16, num_heads=2, intermediate_size=32,
                             fusion_dim=8, dev_fraction=0.2)
    for mode in ("text", "multimodal"):
        out, info = train_and_validate(mode, 0, inst, regions, num_values=5, config=config)
        assert len(out) == 12 and set(out["mode"]) == {mode}
        assert out["predicted_id"].between(0, 4).all() and out["probability"].between(0, 1).all()
        assert info["dev_instances"] > 0 and info["train_instances"] + info["dev_instances"] == 36
    again, _ = train_and_validate("multimodal", 0, inst, regions, num_values=5, config=config)
    assert again["predicted_id"].tolist() == out["predicted_id"].tolist()     # seeded
