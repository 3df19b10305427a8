"""What every source reader returns: a table of valid records and a table of rejects.

A reader never raises on bad data and never drops a record silently: each record it cannot
use lands in the rejects table with a stable ``reason`` code (for grouping and reports) and a
human ``detail``. Counters that are not rejects (blank lines skipped, unmapped labels seen)
go to ``stats``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

REJECT_COLUMNS = ("source", "location", "record", "reason", "detail")


def _short(record: Any, limit: int = 500) -> str:
    text = record if isinstance(record, str) else repr(record)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RejectCollector:
    """Accumulates rejects of one source."""

    def __init__(self, source: str):
        self.source = source
        self._rows: list[tuple[str, str, str, str, str]] = []

    def add(self, location: str, record: Any, reason: str, detail: str = "") -> None:
        self._rows.append((self.source, str(location), _short(record), reason, detail))

    def __len__(self) -> int:
        return len(self._rows)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows, columns=list(REJECT_COLUMNS)).astype("string")


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame(columns=list(REJECT_COLUMNS)).astype("string")


@dataclass
class ReadResult:
    """Valid records, rejects and counters of one source."""

    source: str
    valid: pd.DataFrame
    rejects: pd.DataFrame = field(default_factory=empty_rejects)
    stats: dict[str, Any] = field(default_factory=dict)

    def rejects_by_reason(self) -> dict[str, int]:
        if self.rejects.empty:
            return {}
        counts = Counter(self.rejects["reason"].tolist())
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "valid": int(len(self.valid)),
            "rejected": int(len(self.rejects)),
            "rejects_by_reason": self.rejects_by_reason(),
            **{k: v for k, v in self.stats.items()},
        }
