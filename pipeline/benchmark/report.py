"""Table VII, the Table VIII ablation, per-slot SA, the significance of the model's gains and
the reliability experiment, as frames, JSON and the "Baseline results" markdown.

JGA and SA are given in percent, like the paper's tables, each with its paired bootstrap
interval; the comparisons give the paired difference, its interval and the two-sided paired
t-test p-value. Scores are against the dataset's own labels (what a user of MAVP has); the
reliability experiment also scores against the generator's truth, where there is one.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from pipeline.benchmark.config import BenchmarkConfig
from pipeline.benchmark.data import SlotData, true_image_targets
from pipeline.benchmark.metrics import IGNORE, compare, slot_accuracy, summary
from pipeline.benchmark.train import VARIANTS, load_predictions
from pipeline.reporting import markdown_table

SPLIT_NAMES = {"validation": "Dev", "test": "Test"}
TYPES = {"text": "T-D", "image": "I-D"}
TABLE_VII = ("majority", "text_only", "image_only", "mujo_sf")
TABLE_VIII = ("mujo_sf", "without_cross_attention", "without_td_loss", "without_id_loss")
BASELINE_OF = {"text": "text_only", "image": "image_only"}


def majority_predictions(data: SlotData) -> dict[str, np.ndarray]:
    """Each slot's most frequent training value (among the instances having the slot), for every
    instance: the floor any trained model must clear."""
    train = data.rows("train")
    out = {}
    for kind, targets in (("text", data.text_targets), ("image", data.image_targets)):
        top = [np.bincount(col[col != IGNORE]).argmax() if (col != IGNORE).any() else 0
               for col in targets[train].T]
        out[kind] = np.tile(np.asarray(top, np.int64), (len(data.frame), 1))
    return out


def _targets(data: SlotData, kind: str) -> np.ndarray:
    return data.text_targets if kind == "text" else data.image_targets


def _scores(data: SlotData, predictions: Mapping[str, Mapping[str, np.ndarray]], config: BenchmarkConfig) -> dict:
    """variant -> split -> kind -> JGA / SA summary, for the kinds each variant is scored on."""
    out: dict = {}
    for name, predicted in predictions.items():
        variant = VARIANTS.get(name)
        kinds = ("text", "image") if variant is None else \
            [k for k, on in (("text", variant.scores_text), ("image", variant.scores_image)) if on]
        for split in SPLIT_NAMES:
            rows = data.rows(split)
            for kind in kinds:
                out.setdefault(name, {}).setdefault(split, {})[kind] = summary(
                    predicted[kind][rows], _targets(data, kind)[rows], config.bootstrap_samples, config.confidence,
                    config.seed)
    return out


def _cell(score: dict | None, metric: str) -> str:
    if not score or score[metric] != score[metric]:
        return "-"
    lo, hi = score[f"{metric}_ci"]
    return f"{100 * score[metric]:.2f} [{100 * lo:.2f}, {100 * hi:.2f}]"


def _label(name: str) -> str:
    return "Majority value" if name == "majority" else VARIANTS[name].label


def table_vii(scores: dict) -> pd.DataFrame:
    rows = []
    for name in TABLE_VII:
        row = {"method": _label(name)}
        for split, shown in SPLIT_NAMES.items():
            for kind, short in TYPES.items():
                score = scores.get(name, {}).get(split, {}).get(kind)      # a baseline has its own kind only
                for metric in ("jga", "sa"):
                    row[f"{shown} {short} {metric.upper()}"] = _cell(score, metric)
        rows.append(row)
    return pd.DataFrame(rows)


def table_viii(scores: dict) -> pd.DataFrame:
    rows = []
    for name in TABLE_VIII:
        row = {"method": _label(name)}
        for kind, short in TYPES.items():
            for metric in ("jga", "sa"):
                row[f"{short} {metric.upper()}"] = _cell(scores.get(name, {}).get("test", {}).get(kind), metric)
        rows.append(row)
    return pd.DataFrame(rows)


def significance(data: SlotData, predictions: Mapping, config: BenchmarkConfig) -> pd.DataFrame:
    """MuJo-SF against each single-modality baseline on its slots, per split."""
    rows = []
    for kind, baseline in BASELINE_OF.items():
        for split, shown in SPLIT_NAMES.items():
            r = data.rows(split)
            got = compare(predictions["mujo_sf"][kind][r], predictions[baseline][kind][r], _targets(data, kind)[r],
                          config.bootstrap_samples, config.confidence, config.seed)
            rows.append({"split": shown, "slots": TYPES[kind], "baseline": _label(baseline), **_comparison_cells(got)})
    return pd.DataFrame(rows)


def _comparison_cells(got: dict) -> dict:
    out = {}
    for metric in ("jga", "sa"):
        lo, hi = got[f"{metric}_difference_ci"]
        out[f"{metric.upper()} difference"] = f"{100 * got[f'{metric}_difference']:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}]"
        out[f"{metric.upper()} p-value"] = got[f"{metric}_p_value"]
    return out


def slot_table(data: SlotData, predictions: Mapping) -> pd.DataFrame:
    """Test SA per slot: MuJo-SF, its single-modality baseline and the majority value."""
    rows = data.rows("test")
    parts = []
    for kind, baseline in BASELINE_OF.items():
        target, names = _targets(data, kind)[rows], getattr(data, f"{kind}_slots").names
        frame = slot_accuracy(predictions["mujo_sf"][kind][rows], target, names).rename(columns={"accuracy": "MuJo-SF"})
        frame[_label(baseline)] = slot_accuracy(predictions[baseline][kind][rows], target, names)["accuracy"]
        frame["Majority value"] = slot_accuracy(predictions["majority"][kind][rows], target, names)["accuracy"]
        parts.append(frame.assign(type=TYPES[kind]))
    out = pd.concat(parts, ignore_index=True)
    if not len(out):
        return out
    scores = ["MuJo-SF", "BERT (text only)", "Swin (image only)", "Majority value"]
    out[scores] = out[scores].apply(pd.to_numeric).round(4)
    return out[["slot", "type", "instances", *scores]]


def reliability_experiment(data: SlotData, predictions: Mapping, records: Mapping, truth: pd.DataFrame | None,
                           config: BenchmarkConfig) -> tuple[pd.DataFrame, dict]:
    """Item 5: the image-only model on all image labels against the same model on the labels at
    or above ``min_reliability``, on the test split, scored against the truth (and the dataset)."""
    rows = data.rows("test")
    targets = {"dataset labels": data.image_targets[rows]}
    if truth is not None:
        targets["truth"] = true_image_targets(data, truth)[rows]
    table, verdict = [], {}
    for against, target in targets.items():
        for name in ("image_only", "image_only_reliable"):
            got = summary(predictions[name]["image"][rows], target, config.bootstrap_samples, config.confidence,
                          config.seed)
            trained = records[name]["trained_labels"]
            table.append({"scored against": against, "trained on": _label(name), "image labels trained on":
                          f"{trained['image']} of {trained['image_all']}", "I-D JGA": _cell(got, "jga"),
                          "I-D SA": _cell(got, "sa"), "instances": got["instances"]})
        diff = compare(predictions["image_only_reliable"]["image"][rows], predictions["image_only"]["image"][rows],
                       target, config.bootstrap_samples, config.confidence, config.seed)
        verdict[against] = {**diff, "verdict": _verdict(diff)}
    return pd.DataFrame(table), verdict


def _verdict(diff: dict) -> str:
    lo, hi = diff["sa_difference_ci"]
    if lo > 0:
        return "dropping unreliable labels helps (SA interval above 0)"
    if hi < 0:
        return "dropping unreliable labels hurts (SA interval below 0)"
    return "no clear difference (SA interval contains 0)"


def benchmark_report(data: SlotData, records: Mapping[str, dict], truth: pd.DataFrame | None,
                     config: BenchmarkConfig) -> dict:
    predictions = {name: load_predictions(record) for name, record in records.items()}
    predictions["majority"] = majority_predictions(data)
    scores = _scores(data, predictions, config)
    reliability, verdict = reliability_experiment(data, predictions, records, truth, config)
    budget = sum(records[n]["seconds"] for n in ("mujo_sf", "text_only", "image_only"))
    return {"table_vii": table_vii(scores), "table_viii": table_viii(scores),
            "significance": significance(data, predictions, config), "slot_accuracy": slot_table(data, predictions),
            "reliability": reliability, "reliability_verdict": verdict, "scores": scores,
            # when each run trained, not whether this call reused it: the same runs give the same report
            "training": pd.DataFrame([{"run": r["label"], "epochs": r["epochs"], "best epoch": r["best_epoch"] + 1,
                                       "seconds": r["seconds"], "device": r["device"]} for r in records.values()]),
            "model_and_baselines_seconds": round(budget, 1), "min_reliability": config.min_reliability,
            "instances": {s: int(len(data.rows(s))) for s in ("train", "validation", "test")},
            "rejects": int(len(data.rejects))}


def _md_table(frame: pd.DataFrame) -> str:
    return markdown_table(frame.map(_md_value), max_rows=len(frame), max_chars=200)


def _md_value(value: object) -> str:
    if isinstance(value, float):
        return "-" if value != value else (f"{value:.3g}" if abs(value) < 0.01 else f"{value:.4f}".rstrip("0"))
    return str(value)


def baseline_markdown(report: dict, encoders: str) -> str:
    """The "Baseline results" section of the quality report and the dataset card."""
    verdicts = "\n".join(f"- against the {k}: {v['verdict']} (SA {100 * v['sa_difference']:+.2f} points, "
                         f"p = {v['sa_p_value']:.3g})" for k, v in report["reliability_verdict"].items())
    return "\n\n".join([
        "## Baseline results",
        f"MuJo-SF (paper section III-C) and its baselines trained on this dataset's train split ({encoders}), "
        f"scored against its labels. JGA and SA in percent with {report['instances']['test']} test and "
        f"{report['instances']['validation']} validation instances; brackets: paired bootstrap intervals. "
        f"The model and the two baselines trained in {report['model_and_baselines_seconds']} s.",
        "### Table VII: the model and the single-modality baselines", _md_table(report["table_vii"]),
        "### Table VIII: ablation (test)", _md_table(report["table_viii"]),
        "### MuJo-SF against each baseline (paired difference, two-sided paired t-test)",
        _md_table(report["significance"]),
        "### Test SA per slot", _md_table(report["slot_accuracy"]),
        f"### Dropping unreliable image labels (below {report['min_reliability']}), test split",
        _md_table(report["reliability"]), verdicts,
        "### Training runs", _md_table(report["training"]),
    ]) + "\n"
