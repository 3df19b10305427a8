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
    """The table as published with the dataset: what was measured on the data, not how fast the
    building machine was (timings stay in the record), so the same data gives the same text."""
    table = source_table(record)
    lines = [f"### {record['source']}", "", markdown_table(table, max_rows=len(table), max_chars=32), "",
             f"Test accuracy in %, top-1 (for a multi-label task: the top class is one of the image's labels). "
             f"Split 8:1:1 by image, seed {record['config']['split_seed']}: "
             + ", ".join(f"{s} {record['data']['by_split'][s]}" for s in SPLITS) + ". "
             f"Device: {record['device']}. Models: " + ", ".join(f"{m['name']} ({m['epochs']} epochs)"
                                                                for m in record["models"]) + "."]
    return "\n".join(lines)


def task_rows(record: dict) -> pd.DataFrame:
    """Tables I-IV turned to one row per task (narrow enough for a page): #imgs, #multi-label
    imgs, then the test accuracy (``<strategy> %``) of each strategy that trained the task."""
    wide = source_table(record).set_index(record["source"])
    rows = wide.T.rename_axis("task").reset_index()
    return rows.rename(columns=lambda c: f"{c.removeprefix('Result (').removesuffix(')')} %"
                       if c.startswith("Result (") else c)


def wilson_lower(accuracy: float, n: int, z: float = 1.96) -> float:
    """Lower end of the Wilson score interval of a proportion (0 when nothing was measured)."""
    if not n or accuracy is None or math.isnan(accuracy):
        return 0.0
    centre = accuracy + z * z / (2 * n)
    spread = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def tasks_above_chance(record: dict, z: float = 1.96) -> pd.DataFrame:
    """Per task, its best model on the test split against chance (the training majority class
    answered for every test image): ``clearly_above`` when the Wilson lower bound of the test
    accuracy is above that baseline."""
    results = pd.DataFrame(record["results"])
    baselines = record.get("test_majority_baseline", {})
    rows = []
    for task in [t["task"] for t in record["tasks"]]:
        part = results[(results["task"] == task) & (results["test_images"] > 0)] if len(results) else results
        best = part.loc[part["test_accuracy"].idxmax()] if len(part) and part["test_accuracy"].notna().any() else None
        accuracy = float(best["test_accuracy"]) if best is not None else float("nan")
        n = int(best["test_images"]) if best is not None else 0
        low, baseline = wilson_lower(accuracy, n, z), baselines.get(task, float("nan"))
        rows.append({"task": task, "model": best["model"] if best is not None else None, "test_images": n,
                     "test_accuracy": accuracy, "wilson_lower": round(low, 4), "majority_baseline": baseline,
                     "clearly_above": bool(n and not math.isnan(baseline) and low > baseline)})
    return pd.DataFrame(rows)
