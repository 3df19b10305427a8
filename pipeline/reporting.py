"""Markdown and summary helpers for reports and Dagster metadata."""

from __future__ import annotations

import pandas as pd


def markdown_table(df: pd.DataFrame, max_rows: int = 10, max_chars: int = 60) -> str:
    """A markdown table of the first rows, each cell shortened to ``max_chars``."""
    if df.empty:
        return "_(no rows)_"
    def cell(value: object) -> str:
        text = "" if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)) else str(value)
        text = text if len(text) <= max_chars else text[: max_chars - 1] + "…"
        return text.replace("|", "\\|").replace("\n", " ")

    head = df.head(max_rows).astype(object).map(cell)
    lines = ["| " + " | ".join(map(str, head.columns)) + " |",
             "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in head.itertuples(index=False)]
    return "\n".join(lines)


def counts_markdown(counts: dict[str, int], key: str = "reason", value: str = "count") -> str:
    if not counts:
        return "_(none)_"
    return markdown_table(pd.DataFrame(list(counts.items()), columns=[key, value]), max_rows=len(counts))
