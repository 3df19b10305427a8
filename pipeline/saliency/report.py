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
    """Per slot (one row each, image-dependent first): a_T, a_M and dif with its z*SE interval,
    and the lambda line. Hatched, pale bars and a ``*`` mark slots decided by the fallback rule
    rather than by measurement. 430 px wide, so that an asset page shows it whole."""
    df = decided.sort_values(["decision", "dif"], ascending=[True, False], na_position="last").reset_index(drop=True)
    y = np.arange(len(df))
    fig, ax = plt.subplots(figsize=(4.3, 1.2 + 0.26 * len(df)))
    h = 0.27
    fallback = (df["basis"] != MEASURED).to_numpy()
    ax.barh(y - h, df["a_T"].fillna(0), h, label="a_T (text)", color="#9aa7b8")
    ax.barh(y, df["a_M"].fillna(0), h, label="a_M (text + image)", color="#f0a35e")
    bars = ax.barh(y + h, df["dif"].fillna(0), h, label="dif = a_M - a_T", color="#3b6fd4",
                   xerr=rule.z * df["dif_se"].fillna(0), error_kw={"elinewidth": 0.6, "capsize": 1.5})
    for bar, fb in zip(bars, fallback):
        if fb:
            bar.set_hatch("////")
            bar.set_alpha(0.45)
    ax.axvline(rule.lam, color="#c0392b", linestyle="--", linewidth=1, label=f"lambda = {rule.lam:g}")
    ax.axvline(0, color="black", linewidth=0.6)
    labels = [f"{s} ({d[0]}, n={n})" + ("*" if fb else "")
              for s, d, n, fb in zip(df["slot"], df["decision"], df["support"], fallback)]
    ax.set_yticks(y, labels, fontsize=6.5)
    ax.invert_yaxis()
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("validation accuracy / difference (%)", fontsize=7)
    ax.set_title("Saliency per slot (i: image, t: text; * fallback)", fontsize=8)
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(target)


SLOT_COLUMNS = ["slot", "support", "a_T", "a_T_std", "a_M", "a_M_std", "dif", "dif_se", "decision", "basis",
                "paper", "agrees"]


def slot_markdown(decided: pd.DataFrame) -> str:
    shown = decided[SLOT_COLUMNS].copy()
    for c in ("a_T", "a_T_std", "a_M", "a_M_std", "dif", "dif_se"):
        shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    return markdown_table(shown, max_rows=len(shown), max_chars=30)
