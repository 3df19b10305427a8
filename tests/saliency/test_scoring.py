"""Per-slot accuracies, dif, and the partition rule (support and uncertainty)."""

import numpy as np
import pandas as pd

from pipeline.saliency.scoring import LOW_SUPPORT, MEASURED, UNCERTAIN, PartitionRule, decide, partition, slot_table


def predictions(slot: str, n: int, text_right: int, multi_right: int, seeds=(0, 1, 2)) -> pd.DataFrame:
    rows = []
    for mode, right in (("text", text_right), ("multimodal", multi_right)):
        for seed in seeds:
            for j in range(n):
                rows.append({"mode": mode, "seed": seed, "sid": f"{slot}-{j}", "slot": slot, "start": 0,
                             "correct": j < right})
    return pd.DataFrame(rows)


def test_accuracies_and_dif_per_slot():
    preds = pd.concat([predictions("color", 40, 8, 36), predictions("material", 40, 30, 30)])
    table = slot_table(preds, ["color", "material", "elasticity"]).set_index("slot")
    assert table.loc["color", "support"] == 40
    assert table.loc["color", "a_T"] == 20.0 and table.loc["color", "a_M"] == 90.0
    assert table.loc["color", "dif"] == 70.0
    assert table.loc["material", "dif"] == 0.0
    # a slot with zero validation support is a row, not a crash
    assert table.loc["elasticity", "support"] == 0 and np.isnan(table.loc["elasticity", "dif"])


def test_rule_measures_supported_slots_and_falls_back_otherwise():
    preds = pd.concat([predictions("color", 40, 8, 36), predictions("material", 40, 30, 30),
                       predictions("toecap", 3, 0, 3), predictions("fit", 12, 3, 5)])
    reference = {"color": "image", "material": "text", "toecap": "image", "fit": "text", "elasticity": "text"}
    decided = decide(slot_table(preds, list(reference)), PartitionRule(lam=9, min_support=5), reference)
    d = decided.set_index("slot")
    assert (d.loc["color", "decision"], d.loc["color", "basis"]) == ("image", MEASURED)
    assert (d.loc["material", "decision"], d.loc["material", "basis"]) == ("text", MEASURED)
    assert (d.loc["toecap", "decision"], d.loc["toecap", "basis"]) == ("image", LOW_SUPPORT)
    assert d.loc["elasticity", "basis"] == LOW_SUPPORT
    # dif 16.7 on 12 instances: its interval contains lambda, so the measurement does not decide
    assert d.loc["fit", "basis"] == UNCERTAIN and d.loc["fit", "decision"] == "text"
    assert decided["agrees"].all()
    # both predictors always wrong: no evidence either way, so the measurement does not decide
    blank = decide(slot_table(predictions("closure", 6, 0, 0), ["closure"]), PartitionRule(), {"closure": "image"})
    assert blank["basis"].tolist() == [UNCERTAIN] and blank["dif_se"].iloc[0] > 10
    parts = partition(decided)
    assert set(parts["image"]) == {"color", "toecap"}
    text_fallback = decide(slot_table(preds, list(reference)), PartitionRule(fallback="text"), reference)
    assert text_fallback.set_index("slot").loc["toecap", "decision"] == "text"


def test_text_evidence_fails_only_when_multimodal_is_below_text_beyond_noise():
    from pipeline.saliency.scoring import text_evidence

    # 60 text-slot instances: P^M loses 30 that P^T knew -> clearly below
    lost = text_evidence(predictions("material", 60, 50, 20), ["material"])
    assert lost["instances"] == 60 and lost["dif"] == -50.0 and not lost["kept"]
    # a 2-instance gap out of 60 is noise, and the image slot's large gain is not counted at all
    close = pd.concat([predictions("material", 60, 30, 28), predictions("color", 60, 0, 60)])
    kept = text_evidence(close, ["material"])
    assert kept["instances"] == 60 and kept["kept"] and round(kept["dif"], 2) == -3.33
    assert not text_evidence(close, [])["kept"]           # nothing to score: not shown to be kept
