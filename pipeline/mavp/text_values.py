"""Slot values annotated in each sentence, normalised through the synonym table.

The rule for a slot tagged more than once in one sentence (``<颜色>橙色</颜色>与<颜色>黑色</颜色>``):
the first value in sentence order fills the slot; each further distinct value is kept in the
rejects as ``extra_value_for_slot`` (counted in the report, never silently dropped), and a
repeat of the same value is no conflict. A value that is neither in the slot's vocabulary nor a
listed synonym is rejected as ``value_not_in_vocabulary``; spans of attributes with no slot
(形状) are counted, not used.
"""

from __future__ import annotations

import pandas as pd

from pipeline.reasons import Reason
from pipeline.records import ReadResult, RejectCollector
from pipeline.schema import Schema

SOURCE = "mavp_text_values"
COLUMNS = ["cid", "sid", "slot", "value", "raw", "start"]


def text_values(records: pd.DataFrame, schema: Schema) -> ReadResult:
    """One row per (sentence, slot) with its value; rejects and counts for everything not used."""
    rejects = RejectCollector(SOURCE)
    rows, stats = [], {"spans": 0, "spans_without_slot": 0, "sentences_with_two_values_for_a_slot": 0}
    for rec in records.itertuples(index=False):
        chosen: dict[str, str] = {}
        conflict = False
        for span in sorted(rec.spans, key=lambda s: s["start"]):
            stats["spans"] += 1
            slot = span["slot"]
            if slot is None or pd.isna(slot):
                stats["spans_without_slot"] += 1
                continue
            value = schema.normalize_value(slot, span["value"])
            where = f"{rec.cid}/{rec.sid}"
            if value is None:
                rejects.add(where, span["value"], Reason.VALUE_NOT_IN_VOCABULARY, f"{slot}: {span['value']!r}")
                continue
            if slot in chosen:
                if chosen[slot] != value:
                    conflict = True
                    rejects.add(where, span["value"], Reason.EXTRA_VALUE_FOR_SLOT,
                                f"{slot} already {chosen[slot]!r} earlier in the sentence; kept the first")
                continue
            chosen[slot] = value
            rows.append((rec.cid, rec.sid, slot, value, span["value"], int(span["start"])))
        stats["sentences_with_two_values_for_a_slot"] += int(conflict)
    return ReadResult(SOURCE, pd.DataFrame(rows, columns=COLUMNS), rejects.frame(), stats)
