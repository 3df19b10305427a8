"""Quality reports of a MAVP build: Table V, Table VI, truth accuracy, value distributions, rejects.

Table VI (the paper's "relative accuracy") scores a distant image label against the value the
sentence itself annotates for that slot, on the instances where both exist. On the sample the
generator's ``truth.parquet`` also gives the true value of every slot, so the same rows are
scored against the truth too, and the annotation against the truth: relative and truth
accuracy differ exactly where the text annotation and the truth differ.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.mavp.labeling import NONE  # noqa: E402
from pipeline.mavp.reliability import COVERAGES, accuracy_at_coverage, auroc, risk_coverage  # noqa: E402
from pipeline.schema import Schema  # noqa: E402

TABLE_VI_SPLITS = ("train", "validation")


def table_v(dataset: pd.DataFrame, partition: Mapping[str, Sequence[str]], schema: Schema) -> pd.DataFrame:
    """Per category: #products, #instances, #text slots and #image slots that apply to it."""
    rows = []
    for category in schema.categories:
        part = dataset[dataset["category"] == category.name]
        applicable = set(category.slots)
        rows.append({"category": category.name, "products": int(part["cid"].nunique()), "instances": int(len(part)),
                     "text_slots": len(applicable & set(partition["text"])),
                     "image_slots": len(applicable & set(partition["image"]))})
    total = {"category": "All", "products": int(dataset["cid"].nunique()), "instances": int(len(dataset)),
             "text_slots": len(set(partition["text"])), "image_slots": len(set(partition["image"]))}
    return pd.DataFrame(rows + [total])


def _accuracy(hits: pd.Series) -> float | None:
    return round(float(hits.mean()), 4) if len(hits) else None


def table_vi(dataset: pd.DataFrame, text: pd.DataFrame, image_slots: Sequence[str],
             truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per image slot and split: support (instances with a text annotation and an image label),
    relative accuracy (image label == annotation) and, with ``truth``, the truth accuracy of the
    image label and of the annotation on the same rows."""
    annotated = text.rename(columns={"value": "text_value"})[["cid", "sid", "slot", "text_value"]]
    truth_long = None
    if truth is not None:
        truth_long = truth.melt(id_vars=["cid"], value_vars=[s for s in image_slots if s in truth.columns],
                                var_name="slot", value_name="true_value").dropna()
    rows = []
    for slot in image_slots:
        labelled = dataset.loc[dataset[f"{slot}_source"] == "image", ["cid", "sid", "split", slot]]
        both = labelled.merge(annotated[annotated["slot"] == slot], on=["cid", "sid"])
        if truth_long is not None:
            both = both.merge(truth_long[truth_long["slot"] == slot][["cid", "true_value"]], on="cid", how="left")
        for split in TABLE_VI_SPLITS:
            part = both[both["split"] == split]
            row = {"slot": slot, "split": split, "support": int(len(part)),
                   "relative_accuracy": _accuracy(part[slot] == part["text_value"]),
                   "majority_baseline": _majority(part["text_value"])}
            if truth_long is not None:
                scored = part.dropna(subset=["true_value"])
                row["truth_accuracy_same_rows"] = _accuracy(scored[slot] == scored["true_value"])
                row["annotation_matches_truth"] = _accuracy(scored["text_value"] == scored["true_value"])
            rows.append(row)
    return pd.DataFrame(rows)


def _scored(labels: pd.DataFrame, truth: pd.DataFrame, slot: str) -> pd.DataFrame:
    """One slot's image labels with the product's true value (``true_value``), where it has one."""
    got = labels[(labels["slot"] == slot) & (labels["source"] == "image")]
    if slot not in truth.columns:
        return got.iloc[0:0].assign(true_value=[])
    return got.merge(truth[["cid", slot]].rename(columns={slot: "true_value"}), on="cid").dropna(subset=["true_value"])


def truth_accuracy(labels: pd.DataFrame, truth: pd.DataFrame, image_slots: Sequence[str]) -> pd.DataFrame:
    """Per image slot: how many products got an image label, and how many of those are right."""
    rows = []
    for slot in image_slots:
        got = _scored(labels, truth, slot)
        rows.append({"slot": slot, "products": int(len(got)), "truth_accuracy": _accuracy(got["value"] == got["true_value"]),
                     "majority_baseline": _majority(got["true_value"])})
    return pd.DataFrame(rows)


def reliability_table(labels: pd.DataFrame, truth: pd.DataFrame, image_slots: Sequence[str]) -> pd.DataFrame:
    """Per image slot and over all (``All``): the reliability's AUROC at telling right labels
    from wrong ones, the accuracy of the most reliable 50 %, 80 % and 100 %, and the accuracy
    of the source classifier before the text-anchored adaptation."""
    parts = {slot: _scored(labels, truth, slot) for slot in image_slots}
    parts["All"] = pd.concat(list(parts.values()), ignore_index=True) if parts else pd.DataFrame()
    rows = []
    for slot, got in parts.items():
        correct = (got["value"] == got["true_value"]).to_numpy() if len(got) else np.zeros(0, bool)
        scores = got["reliability"].to_numpy(dtype=float) if len(got) else np.zeros(0)
        row = {"slot": slot, "labels": int(len(got)), "auroc": auroc(scores, correct),
               "source_only_accuracy": _accuracy(got["source_value"] == got["true_value"]) if len(got) else None}
        for coverage in COVERAGES:
            row[f"accuracy_top_{int(coverage * 100)}"] = accuracy_at_coverage(scores, correct, coverage)
        rows.append(row)
    return pd.DataFrame(rows)


def risk_coverage_chart(labels: pd.DataFrame, truth: pd.DataFrame, image_slots: Sequence[str], path) -> None:
    """Error rate of the kept labels as less reliable ones are dropped, per slot and overall."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.2))
    everything = []
    for slot in image_slots:
        got = _scored(labels, truth, slot)
        if len(got):
            everything.append(got)
            cov, risk = risk_coverage(got["reliability"].to_numpy(float), (got["value"] == got["true_value"]).to_numpy())
            ax.plot(cov * 100, risk * 100, lw=0.9, label=slot)
    if everything:
        got = pd.concat(everything)
        cov, risk = risk_coverage(got["reliability"].to_numpy(float), (got["value"] == got["true_value"]).to_numpy())
        ax.plot(cov * 100, risk * 100, lw=2.2, color="black", label="all")
    ax.set_xlabel("coverage: labels kept, most reliable first (%)", fontsize=7)
    ax.set_ylabel("error rate of the kept labels (%)", fontsize=7)
    ax.tick_params(labelsize=6.5)
    ax.set_xlim(0, 100)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=5.5, ncol=2)
    ax.set_title("Risk-coverage of the image labels' reliability (truth)", fontsize=7.5)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _majority(values: pd.Series) -> float | None:
    """Accuracy of always answering the most common of ``values``."""
    return _accuracy(values == values.mode().iloc[0]) if len(values) else None


def labels_against_majority(quality: Mapping) -> pd.DataFrame:
    """Per image slot: the distant labels' accuracy beside always guessing the most common value.
    Against the truth where the build has one (sample profile), else Table VI's relative
    accuracy, pooled over its splits. ``beats_majority`` is False at or below the baseline, and
    where nothing could be scored."""
    if quality.get("truth_accuracy"):
        scored = pd.DataFrame(quality["truth_accuracy"]).rename(columns={"truth_accuracy": "accuracy",
                                                                         "products": "support"})
        basis = "truth"
    else:
        vi = pd.DataFrame(quality.get("table_vi") or [], columns=["slot", "support", "relative_accuracy",
                                                                 "majority_baseline"])
        weighted = vi.assign(hits=vi["relative_accuracy"].fillna(0) * vi["support"],
                             base=vi["majority_baseline"].fillna(0) * vi["support"])
        scored = weighted.groupby("slot", as_index=False)[["support", "hits", "base"]].sum()
        scored["accuracy"] = (scored["hits"] / scored["support"]).where(scored["support"] > 0)
        scored["majority_baseline"] = (scored["base"] / scored["support"]).where(scored["support"] > 0)
        basis = "table_vi"
    out = scored[["slot", "support", "accuracy", "majority_baseline"]].assign(basis=basis)
    for column in ("accuracy", "majority_baseline"):
        out[column] = pd.to_numeric(out[column], errors="coerce")
    out["beats_majority"] = out["accuracy"] > out["majority_baseline"]     # NaN: nothing scored, False
    return out


def value_distributions(dataset: pd.DataFrame, slots: Sequence[str]) -> pd.DataFrame:
    """Long table: slot, value, instances (``none`` included)."""
    parts = [dataset[slot].value_counts().rename_axis("value").reset_index(name="instances").assign(slot=slot)
             for slot in slots]
    return pd.concat(parts, ignore_index=True)[["slot", "value", "instances"]]


def rejects_summary(rejects: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Counts by (table, source, reason) over every rejects table of the build."""
    parts = []
    for name, frame in rejects.items():
        if len(frame):
            counts = frame.groupby(["source", "reason"], dropna=False).size().reset_index(name="count")
            parts.append(counts.assign(table=name))
    if not parts:
        return pd.DataFrame(columns=["table", "source", "reason", "count"])
    return pd.concat(parts, ignore_index=True)[["table", "source", "reason", "count"]]


#: Figures are drawn this wide (inches at 100 dpi: 430 px), so that an asset page shows them whole.
FIGURE_WIDTH = 4.3


def value_distribution_chart(distributions: pd.DataFrame, slots: Sequence[str], path) -> None:
    """Small multiples: the most frequent values of each slot (``none`` in grey)."""
    cols = 3
    rows = math.ceil(len(slots) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(FIGURE_WIDTH, 1.25 * rows + 0.3), squeeze=False)
    for ax, slot in zip(axes.ravel(), slots):
        part = distributions[distributions["slot"] == slot].nlargest(6, "instances")
        colors = ["#bbbbbb" if v == NONE else "#4c72b0" for v in part["value"]]
        ax.barh(range(len(part)), part["instances"], color=colors)
        ax.set_yticks(range(len(part)), [f"#{i}" if v != NONE else NONE for i, v in enumerate(part["value"])],
                      fontsize=5)
        ax.invert_yaxis()
        ax.set_title(slot, fontsize=6.5)
        ax.tick_params(axis="x", labelsize=5)
    for ax in axes.ravel()[len(slots):]:
        ax.axis("off")
    fig.suptitle("Values per slot (top 6; value names in quality.md)", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def accuracy_chart(vi: pd.DataFrame, truth: pd.DataFrame | None, path) -> None:
    """Table VI's relative accuracy per slot (train, validation) beside the truth accuracy."""
    slots = list(dict.fromkeys(vi["slot"]))
    y = np.arange(len(slots))
    series = [(vi[vi["split"] == s].set_index("slot")["relative_accuracy"].reindex(slots), f"relative ({s})")
              for s in TABLE_VI_SPLITS]
    if truth is not None:
        series.append((truth.set_index("slot")["truth_accuracy"].reindex(slots), "truth (all products)"))
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 1.2 + 0.32 * len(slots) * len(series) / 2))
    height = 0.8 / len(series)
    for i, (values, label) in enumerate(series):
        ax.barh(y + i * height, values.astype(float).fillna(0) * 100, height, label=label)
    ax.set_yticks(y + height * (len(series) - 1) / 2, slots, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy (%)", fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlim(0, 100)
    ax.legend(fontsize=6, loc="lower right")
    ax.set_title("Distant labels: Table VI relative accuracy and truth accuracy", fontsize=7.5)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
