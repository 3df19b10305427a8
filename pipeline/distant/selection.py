"""Which trained classifier labels each image slot, and how its classes become MAVP values.

Labeling (the MAVP assembly) reads only the table this module writes: for every image slot of
the computed partition, the checkpoint, the heads to read, the source-label -> value map and
the measured accuracy. A slot the partition makes image-dependent but no source covers is
listed with ``status: no_classifier`` (its values stay ``none``), never guessed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.distant.config import SlotClassifierChoice
from pipeline.io import write_json
from pipeline.schema import Schema

READY, NO_CLASSIFIER, NOT_TRAINED = "ready", "no_classifier", "not_trained"


def value_probabilities(probs: np.ndarray, class_values: Sequence[str | None], values: Sequence[str],
                        multi_label: bool) -> np.ndarray:
    """(N, V) probability of each MAVP value from (N, C) class probabilities: the classes that
    map to one value add up under a softmax head and take their maximum under a sigmoid head
    (independent probabilities, which could add up past one); unmapped classes count for nothing."""
    out = np.zeros((len(probs), len(values)), np.float32)
    for j, value in enumerate(class_values):
        if value is None:
            continue
        k = values.index(value)
        out[:, k] = np.maximum(out[:, k], probs[:, j]) if multi_label else out[:, k] + probs[:, j]
    return out


def parse_choice(text: str) -> SlotClassifierChoice:
    """``slot=source:task[+task...][:strategy]`` (the run-config form)."""
    slot, _, rest = text.partition("=")
    parts = rest.split(":")
    if not slot or len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ValueError(f"slot classifier {text!r}: expected slot=source:task[+task][:strategy]")
    return SlotClassifierChoice(slot.strip(), parts[0].strip(), tuple(t.strip() for t in parts[1].split("+")),
                                parts[2].strip() if len(parts) == 3 else "best")


def format_choice(choice: SlotClassifierChoice) -> str:
    return f"{choice.slot}={choice.source}:{'+'.join(choice.tasks)}:{choice.strategy}"


def _candidates(record: Mapping, choice: SlotClassifierChoice) -> list[dict]:
    models = [m for m in record.get("models", []) if set(choice.tasks) <= set(m["tasks"])]
    if choice.strategy != "best":
        models = [m for m in models if m["strategy"] == choice.strategy]
    return models


def _mean(scores: Mapping[str, float], weights: Mapping[str, int], tasks: Sequence[str]) -> float | None:
    pairs = [(scores[t], weights.get(t, 1)) for t in tasks if scores.get(t) == scores.get(t)]
    total = sum(w for _, w in pairs)
    return round(sum(s * w for s, w in pairs) / total, 4) if total else None


def choose_slot_classifiers(records: Mapping[str, Mapping], choices: Sequence[SlotClassifierChoice],
                            image_slots: Sequence[str], schema: Schema) -> pd.DataFrame:
    """One row per image slot: the chosen model (best validation accuracy among the
    candidates the choice allows), its label -> value map and its accuracy."""
    by_slot = {c.slot: c for c in choices}
    rows = []
    for slot in image_slots:
        choice = by_slot.get(slot)
        row = {"slot": slot, "source": None, "tasks": [], "strategy": None, "model": None, "checkpoint": None,
               "validation_accuracy": None, "test_accuracy": None, "label_to_value": "{}", "unmapped_labels": [],
               "task_weights": {}}
        if choice is None:
            rows.append({**row, "status": NO_CLASSIFIER})
            continue
        record = records.get(choice.source, {})
        candidates = _candidates(record, choice)
        row.update(source=choice.source, tasks=list(choice.tasks))
        if not candidates:
            rows.append({**row, "status": NOT_TRAINED})
            continue
        best = max(candidates, key=lambda m: _mean(m["validation_accuracy"], {}, choice.tasks) or -1.0)
        classes = {t["task"]: t["classes"] for t in record["tasks"]}
        images = {t["task"]: t.get("images", 0) for t in record["tasks"]}
        label_map, unmapped = {}, []
        for task in choice.tasks:
            for label in classes.get(task, []):
                entry = schema.map_label(choice.source, task, label)
                label_map[f"{task}\t{label}"] = entry.value if entry and entry.slot == slot else None
                if label_map[f"{task}\t{label}"] is None:
                    unmapped.append(f"{task}: {label}")
        rows.append({**row, "status": READY, "strategy": best["strategy"], "model": best["name"],
                     "checkpoint": best["path"],
                     "validation_accuracy": _mean(best["validation_accuracy"], {}, choice.tasks),
                     "test_accuracy": _mean(best["test_accuracy"], best["test_images"], choice.tasks),
                     "label_to_value": json.dumps(label_map, ensure_ascii=False), "unmapped_labels": unmapped,
                     "task_weights": {t: images.get(t, 0) for t in choice.tasks}})
    return pd.DataFrame(rows)


def write_slot_classifiers(table: pd.DataFrame, path: Path | str) -> Path:
    return write_json({"slots": table.to_dict("records")}, path)


def read_slot_classifiers(path: Path | str) -> pd.DataFrame:
    """The table labeling reads; ``label_to_value`` maps ``task<TAB>label`` to a value or None."""
    table = pd.DataFrame(json.loads(Path(path).read_text(encoding="utf-8"))["slots"])
    table["label_to_value"] = table["label_to_value"].map(json.loads)
    return table
