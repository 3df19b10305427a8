"""Tables I-IV per task, and whether each task's classifier is clearly above chance."""

import math

import numpy as np
import pandas as pd

from pipeline.distant.data import SourceImages, TaskLabels
from pipeline.distant.report import task_rows, tasks_above_chance, wilson_lower
from pipeline.distant.strategies import majority_baselines


def record(results, baselines):
    return {"source": "fashionai", "tasks": [{"task": t, "images": 100, "multi_label_images": 0} for t in baselines],
            "results": results, "test_majority_baseline": baselines}


def result(model, task, accuracy, n, strategy="multi_task"):
    return {"model": model, "strategy": strategy, "task": task, "test_accuracy": accuracy, "test_images": n}


def test_wilson_lower_bound():
    assert wilson_lower(0.5, 0) == 0.0 and wilson_lower(float("nan"), 10) == 0.0
    assert math.isclose(wilson_lower(0.8, 100), 0.7112, abs_tol=1e-3)      # the textbook value
    assert wilson_lower(0.8, 10) < wilson_lower(0.8, 100) < 0.8


def test_a_task_must_beat_the_majority_baseline_beyond_noise():
    rec = record([result("multi_task", "sleeve", 0.25, 52), result("multi_task", "pant", 0.80, 40),
                  result("multi_task", "skirt", 0.60, 10), result("single_task-skirt", "skirt", 0.95, 40,
                                                                  "single_task")],
                 {"sleeve": 0.20, "pant": 0.35, "skirt": 0.50, "collar": 0.4})
    scored = tasks_above_chance(rec).set_index("task")
    assert not scored.loc["sleeve", "clearly_above"]          # 25 % of 52 vs 20 %: within noise
    assert scored.loc["pant", "clearly_above"]
    assert scored.loc["skirt", "model"] == "single_task-skirt" and scored.loc["skirt", "clearly_above"]
    assert not scored.loc["collar", "clearly_above"] and scored.loc["collar", "test_images"] == 0   # never tested


def test_task_rows_turn_the_paper_table_to_one_row_per_task():
    rec = record([result("multi_task", "sleeve", 0.25, 52), result("multi_task", "pant", 0.8, 40)],
                 {"sleeve": 0.2, "pant": 0.35})
    rec["config"] = {"split_seed": 0}
    rows = task_rows(rec).set_index("task")
    assert list(rows.index) == ["sleeve", "pant"]
    assert rows.loc["pant", "multi-task %"] == "80.00" and rows.loc["pant", "#imgs"] == 100


def test_majority_baseline_answers_the_training_majority_on_test():
    targets = np.eye(3, dtype=np.float32)[[0, 0, 0, 1, 1, 2, 1, 1, 0, 2]]
    counts = np.ones(10, dtype=np.int64)
    counts[9] = 0                                          # not labelled for the task
    split = np.array(["train"] * 6 + ["test"] * 4)
    data = SourceImages(source="s", image_ids=[str(i) for i in range(10)], split=split,
                        inputs=np.zeros((10, 1, 1, 3), np.uint8), rejects=pd.DataFrame(), inputs_key="k",
                        tasks={"t": TaskLabels(("a", "b", "c"), targets, counts)})
    # train majority is class a (3 of 6); the labelled test rows are b, b, a
    assert math.isclose(majority_baselines(data)["t"], 1 / 3, abs_tol=1e-4)
