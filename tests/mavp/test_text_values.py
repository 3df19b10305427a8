"""Text slot values: synonyms, the two-values rule, and rejects for what is not used."""

import pandas as pd

from pipeline.mavp.text_values import text_values
from pipeline.schema import default_schema


def span(attribute, slot, value, start):
    return {"attribute": attribute, "slot": slot, "value": value, "start": start, "end": start + len(value)}


def records(*rows):
    return pd.DataFrame([{"cid": "c1", "sid": f"s{i}", "spans": spans} for i, spans in enumerate(rows)])


def test_first_value_wins_and_the_second_is_rejected_not_lost():
    # 橙色与黑色: two colours tagged in one sentence
    result = text_values(records([span("颜色", "color", "黑色", 3), span("颜色", "color", "橙色", 0)]),
                         default_schema())
    assert result.valid[["slot", "value"]].values.tolist() == [["color", "橙色"]]
    assert result.rejects["reason"].tolist() == ["extra_value_for_slot"]
    assert result.rejects["record"].tolist() == ["黑色"]
    assert result.stats["sentences_with_two_values_for_a_slot"] == 1


def test_repeated_same_value_is_no_conflict_and_unknown_values_are_rejected():
    schema = default_schema()
    vocab_value = schema.slot("material").values[0]
    result = text_values(records([span("材质", "material", vocab_value, 0), span("材质", "material", vocab_value, 5),
                                  span("风格", "style", "不存在的风格", 9), span("形状", None, "方形", 12)]), schema)
    assert result.valid[["slot", "value"]].values.tolist() == [["material", vocab_value]]
    assert result.rejects["reason"].tolist() == ["value_not_in_vocabulary"]
    assert result.stats["spans_without_slot"] == 1 and result.stats["sentences_with_two_values_for_a_slot"] == 0


def test_synonyms_are_normalised():
    schema = default_schema()
    (slot, raw), canonical = next(iter(schema.synonyms.items()))
    result = text_values(records([span("x", slot, raw, 0)]), schema)
    assert result.valid["value"].tolist() == [canonical] and result.valid["raw"].tolist() == [raw]
