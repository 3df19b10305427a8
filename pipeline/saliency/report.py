"""The saliency chart (like the paper's Fig. 3) and the per-slot markdown table."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.io import atomic_path  # noqa: E402
from pipeline.reporting import markdown_table  # noqa: E402
from pipeline.saliency.scoring import MEASURED, PartitionRule  # noqa: E402


def saliency_chart(decided: pd.DataFrame, rule: PartitionRule, target: Path | str) -> Path:
    """Bars of a_T and a_M per slot, dif beside them, the lambda line; hatched bars mark
    slots decided by the fallback rule rather than by measurement."""
    df = decided.sort_values(["decision", "dif"], ascending=[True, False], na_position="last")
    x = np.arange(len(df))
    fig, ax = plt.subplots(figsize=(max(8.0, 0.55 * len(df)), 4.8))
    w = 0.27
    fallback = (df["basis"] != MEASURED).to_numpy()
    ax.bar(x - w, df["a_T"].fillna(0), w, label="a_T (text)", color="#9aa7b8")
    ax.bar(x, df["a_M"].fillna(0), w, label="a_M (text + image)", color="#f0a35e")
    bars = ax.bar(x + w, df["dif"].fillna(0), w, label="dif = a_M - a_T", color="#3b6fd4")
    for bar, fb in zip(bars, fallback):
        if fb:
            bar.set_hatch("//")
            bar.set_alpha(0.5)
    ax.errorbar(x + w, df["dif"].fillna(0), yerr=rule.z * df["dif_se"].fillna(0), fmt="none",
                ecolor="black", elinewidth=0.8, capsize=2)
    ax.axhline(rule.lam, color="#c0392b", linestyle="--", linewidth=1, label=f"lambda = {rule.lam:g}")
    ax.axhline(0, color="black", linewidth=0.6)
    labels = [f"{s}\n(n={n})" + ("*" if fb else "") for s, n, fb in zip(df["slot"], df["support"], fallback)]
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("validation accuracy / difference (%)")
    ax.set_title("Visualized saliency ascription (* = not decided by measurement)")
    ax.legend(fontsize=7, ncol=4, loc="upper right")
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(target)


SLOT_COLUMNS = ["slot", "support", "a_T", "a_T_std", "a_M", "a_M_std", "dif", "dif_se", "decision", "basis",
                "paper", "agrees"]


def slot_markdown(decided: pd.DataFrame) -> str:
    shown = decided[SLOT_COLUMNS].copy()
    for c in ("a_T", "a_T_std", "a_M", "a_M_std", "dif", "dif_se"):
        shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    return markdown_table(shown, max_rows=len(shown), max_chars=30)
