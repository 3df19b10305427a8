"""Masked-value instances: one per annotated value span of a MEPAVE sentence.

The target vocabulary is every (slot, canonical value) of the schema, so both predictors
score all Z values of all slots, as in the paper. A span whose value has no canonical form
in its slot's vocabulary cannot be a target; it goes to rejects with the reason, never to
the target set under a guessed value. Spans of MEPAVE attributes that have no MAVP slot
(形状) are counted, not rejected: they are valid data outside the slot set.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.reasons import Reason
from pipeline.records import ReadResult, RejectCollector
from pipeline.schema import Schema

SOURCE = "saliency_instances"
VALUE_NOT_IN_VOCABULARY = Reason.VALUE_NOT_IN_VOCABULARY
INSTANCE_COLUMNS = ("cid", "sid", "split", "category", "slot", "value", "value_id", "text", "start", "end")


@dataclass(frozen=True)
class ValueVocabulary:
    """The Z prediction targets: (slot, value) pairs in schema order."""

    slots: tuple[str, ...]
    values: tuple[str, ...]

    @classmethod
    def from_schema(cls, schema: Schema) -> "ValueVocabulary":
        pairs = [(s.key, v) for s in schema.slots for v in s.values]
        return cls(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))

    def __len__(self) -> int:
        return len(self.values)

    def index(self) -> dict[tuple[str, str], int]:
        return {(s, v): i for i, (s, v) in enumerate(zip(self.slots, self.values))}


def masked_instances(records: pd.DataFrame, schema: Schema) -> ReadResult:
    """One row per value span of ``records`` (the valid MEPAVE sentence table)."""
    index = ValueVocabulary.from_schema(schema).index()
    rejects = RejectCollector(SOURCE)
    rows = []
    no_slot = 0
    for rec in records.itertuples(index=False):
        for span in rec.spans:
            slot = span["slot"]
            if slot is None:
                no_slot += 1
                continue
            value = schema.normalize_value(slot, span["value"])
            if value is None:
                rejects.add(f"{rec.file}:{rec.line}", f"{rec.sid} {span['attribute']}={span['value']}",
                            VALUE_NOT_IN_VOCABULARY,
                            f"{span['value']!r} is not a value of slot {slot} nor a listed synonym")
                continue
            rows.append((rec.cid, rec.sid, rec.split, rec.category, slot, value, index[(slot, value)],
                         rec.text, int(span["start"]), int(span["end"])))
    valid = pd.DataFrame(rows, columns=list(INSTANCE_COLUMNS))
    valid = valid.astype({"value_id": "int64", "start": "int64", "end": "int64"})
    stats = {"spans_without_slot": no_slot, "instances_by_split": valid["split"].value_counts().to_dict()}
    return ReadResult(SOURCE, valid, rejects.frame(), stats)
