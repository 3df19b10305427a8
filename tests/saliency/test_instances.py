"""Masked-value instances from MEPAVE records."""

import pandas as pd

from pipeline.saliency.instances import VALUE_NOT_IN_VOCABULARY, ValueVocabulary, masked_instances
from pipeline.schema import default_schema
from pipeline.sources.mepave import read_mepave


def test_instances_from_real_mepave_lines(mepave_sample_dir):
    schema = default_schema()
    records = read_mepave(mepave_sample_dir).valid
    result = masked_instances(records, schema)
    vocab = ValueVocabulary.from_schema(schema)
    n_spans = sum(len(s) for s in records["spans"])
    assert len(result.valid) + len(result.rejects) + result.stats["spans_without_slot"] == n_spans
    for r in result.valid.itertuples():
        assert vocab.slots[r.value_id] == r.slot and vocab.values[r.value_id] == r.value
        assert 0 <= r.start < r.end <= len(r.text)
    assert set(result.rejects["reason"]) <= {VALUE_NOT_IN_VOCABULARY}


def test_synonyms_map_to_canonical_and_unknown_values_are_rejected():
    schema = default_schema()
    variant, canonical = next((v, c) for (slot, v), c in schema.synonyms.items() if slot == "color")
    text = f"{variant}和紫罗兰渐变"
    records = pd.DataFrame([{
        "cid": "c1", "sid": "s1", "split": "train", "category": "Clothes", "text": text, "file": "f", "line": 1,
        "spans": [{"attribute": "颜色", "slot": "color", "value": variant, "start": 0, "end": len(variant)},
                  {"attribute": "颜色", "slot": "color", "value": "紫罗兰渐变", "start": len(variant) + 1,
                   "end": len(text)},
                  {"attribute": "形状", "slot": None, "value": "方形", "start": 0, "end": 1}],
    }])
    result = masked_instances(records, schema)
    assert result.valid["value"].tolist() == [canonical]
    assert result.rejects["reason"].tolist() == [VALUE_NOT_IN_VOCABULARY]
    assert result.stats["spans_without_slot"] == 1
