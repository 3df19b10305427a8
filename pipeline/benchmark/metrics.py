"""JGA and SA (paper eqs. 13-14) per instance, with paired bootstrap intervals and the paired
two-sided t-test the paper reports (Table VII: "p-value < 0.05 under a paired two-sided t-test").

An instance's JGA is 1 when every slot of its category (of the type scored) is right, its SA the
share of them that is right; the corpus figure is the mean over instances. Instances with no
slot of the type (a category without image slots, say) do not count for it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

IGNORE = -1


def instance_scores(predicted: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(JGA, SA) per instance for (N, S) predicted and target candidate indices (target
    IGNORE: not a slot of the instance); NaN for an instance with no slot."""
    scored = target != IGNORE
    right = (predicted == target) & scored
    slots = scored.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sa = np.where(slots > 0, right.sum(1) / slots, np.nan)
    jga = np.where(slots > 0, (right.sum(1) == slots).astype(float), np.nan)
    return jga, sa


def bootstrap_interval(values: np.ndarray, samples: int, confidence: float, seed: int,
                       baseline: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` (or of the paired difference ``values -
    baseline``) over instances resampled with replacement; NaN instances are left out."""
    values = values if baseline is None else values - baseline
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    for start in range(0, samples, 100):                    # a block of resamples at a time: N x 100 indices
        n = min(100, samples - start)
        means[start:start + n] = values[rng.integers(0, len(values), (n, len(values)))].mean(1)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def paired_t_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p-value of per-instance scores ``a`` against ``b`` (instances
    where either is NaN left out); 1.0 when the two never differ (no evidence of a difference)."""
    both = ~(np.isnan(a) | np.isnan(b))
    if both.sum() < 2 or np.all(a[both] == b[both]):
        return 1.0
    return float(stats.ttest_rel(a[both], b[both]).pvalue)


def summary(predicted: np.ndarray, target: np.ndarray, samples: int, confidence: float, seed: int) -> dict:
    """JGA and SA with their bootstrap intervals, and the instances counted."""
    jga, sa = instance_scores(predicted, target)
    out = {"instances": int((~np.isnan(jga)).sum())}
    for name, values in (("jga", jga), ("sa", sa)):
        out[name] = float(np.nanmean(values)) if out["instances"] else float("nan")
        out[f"{name}_ci"] = bootstrap_interval(values, samples, confidence, seed)
    return out


def compare(predicted: np.ndarray, baseline: np.ndarray, target: np.ndarray, samples: int, confidence: float,
            seed: int) -> dict:
    """The model against a baseline on the same instances: the paired differences in JGA and SA
    with bootstrap intervals, and the paired t-test p-values."""
    model_scores, base_scores = instance_scores(predicted, target), instance_scores(baseline, target)
    out = {}
    for name, a, b in zip(("jga", "sa"), model_scores, base_scores):
        out[f"{name}_difference"] = float(np.nanmean(a - b)) if (~np.isnan(a - b)).any() else float("nan")
        out[f"{name}_difference_ci"] = bootstrap_interval(a, samples, confidence, seed, baseline=b)
        out[f"{name}_p_value"] = paired_t_test(a, b)
    return out


def slot_accuracy(predicted: np.ndarray, target: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """SA per slot: the share of the instances having the slot whose value is right."""
    rows = []
    for j, name in enumerate(names):
        scored = target[:, j] != IGNORE
        rows.append({"slot": name, "instances": int(scored.sum()),
                     "accuracy": float((predicted[scored, j] == target[scored, j]).mean()) if scored.any() else None})
    return pd.DataFrame(rows, columns=["slot", "instances", "accuracy"])
