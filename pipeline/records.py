"""What every source reader returns: a table of valid records and a table of rejects.

A reader never raises on bad data and never drops a record silently: each record it cannot
use lands in the rejects table with a stable ``reason`` code (for grouping and reports) and a
human ``detail``. Counters that are not rejects (blank lines skipped, unmapped labels seen)
go to ``stats``. Given the source root, a collector writes locations (and paths quoted in
details) relative to it, so a rejects table holds no path of the machine that read it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

REJECT_COLUMNS = ("source", "location", "record", "reason", "detail")


def is_utf8(text: str) -> bool:
    """False for a string holding surrogates: the undecodable bytes of a file name (os.fsdecode)
    or a JSON ``\\ud800`` escape."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def printable(text: str) -> str:
    """``text`` as valid UTF-8 without NULs: undecodable bytes of file names (surrogate escapes)
    and NUL characters written as backslash escapes, so every rejects table can be saved."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if is_utf8(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:          # a lone surrogate that no file name made (a JSON \ud800 escape)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _short(record: Any, limit: int = 500) -> str:
    text = printable(record if isinstance(record, str) else repr(record))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def relative_to_root(text: str, root: Path | str | None) -> str:
    """``text`` with every path under ``root`` written relative to it (``root`` itself as ``.``)."""
    prefix = str(root).rstrip("/") if root is not None else ""
    if not prefix or not text:
        return text
    return "." if text == prefix else re.sub(rf"(?<![\w./-]){re.escape(prefix)}/", "", text)


def relative_rejects(rejects: pd.DataFrame, roots: Iterable[Path | str]) -> pd.DataFrame:
    """A rejects table with locations and details relative to whichever of ``roots`` holds them
    (the deepest first)."""
    out = rejects.copy()
    for root in sorted({str(r).rstrip("/") for r in roots}, key=len, reverse=True):
        for column in ("location", "detail"):
            if column in out:
                out[column] = out[column].map(lambda t, r=root: relative_to_root(t, r) if isinstance(t, str) else t)
    return out


class RejectCollector:
    """Accumulates rejects of one source; with ``root``, locations and details are root-relative."""

    def __init__(self, source: str, root: Path | str | None = None):
        self.source = source
        self.root = root
        self._rows: list[tuple[str, str, str, str, str]] = []

    def add(self, location: str, record: Any, reason: str, detail: str = "") -> None:
        self._rows.append((self.source, printable(relative_to_root(str(location), self.root)), _short(record),
                           str(reason), printable(relative_to_root(detail, self.root))))

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
