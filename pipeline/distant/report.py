"""Tables I-IV: per source and task, #images, #multi-label images and test accuracy per strategy."""

from __future__ import annotations

import math

import pandas as pd

from pipeline.reporting import markdown_table
from pipeline.splits import SPLITS

STRATEGY_LABELS = {"multi_task": "Result (multi-task)", "joint": "Result (joint multi-task)",
                   "single_task": "Result (single-task)", "single_label": "Result (single-label)",
                   "multi_label_mix": "Result (multi-label-mix)", "multi_label": "Result (multi-label)"}


def _percent(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def source_table(record: dict) -> pd.DataFrame:
    """The paper's layout: one column per task, rows #imgs, #imgs (multi-label) and one result
    row per strategy (test accuracy in %, ``-`` where a strategy did not train that task)."""
    tasks = [t["task"] for t in record["tasks"]]
    rows = {"#imgs": {t["task"]: t["images"] for t in record["tasks"]},
            "#imgs (multi-label)": {t["task"]: t["multi_label_images"] for t in record["tasks"]}}
    results = pd.DataFrame(record["results"])
    for strategy in STRATEGY_LABELS:
        part = results[results["strategy"] == strategy] if len(results) else results
        if len(part):
            rows[STRATEGY_LABELS[strategy]] = {r["task"]: _percent(r["test_accuracy"]) for r in part.to_dict("records")}
    if "joint" in set(results.get("strategy", [])):
        rows["Result (joint, all tasks pooled)"] = {tasks[0]: _percent(overall_accuracy(results[results["strategy"] == "joint"]))}
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=tasks)
    return table.fillna("-").rename_axis(record["source"]).reset_index()


def overall_accuracy(results: pd.DataFrame) -> float:
    """Accuracy over every (test image, task) pair of the given result rows."""
    n = results["test_images"].sum()
    return float((results["test_accuracy"].fillna(0) * results["test_images"]).sum() / n) if n else float("nan")


def source_markdown(record: dict) -> str:
    table = source_table(record)
    speed = [f"{m['name']}: {m['epochs']} epochs, {m['seconds']:.1f} s, train {m['train_images_per_second']:.0f} img/s, "
             f"inference {m['inference_images_per_second']:.0f} img/s" for m in record["models"]]
    lines = [f"### {record['source']}", "", markdown_table(table, max_rows=len(table), max_chars=32), "",
             f"Test accuracy in %, top-1 (for a multi-label task: the top class is one of the image's labels). "
             f"Split 8:1:1 by image, seed {record['config']['split_seed']}: "
             + ", ".join(f"{s} {record['data']['by_split'][s]}" for s in SPLITS) + ". "
             f"Device: {record['device']}.", "", *[f"- {s}" for s in speed]]
    return "\n".join(lines)
