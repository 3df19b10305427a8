"""Per-slot accuracies, saliency scores and the image / text partition.

a_T and a_M of a slot are its validation accuracies (argmax over all Z values equals the
truth), averaged over seeds; dif = a_M - a_T in percentage points. Because both predictors
are scored on the same instances, dif is the mean of the paired per-instance difference
d_j = mean_seeds(correct_M) - mean_seeds(correct_T), whose standard error gives the
uncertainty of dif. The standard error adds one pseudo-pair (+1, -1), one discordant instance
each way, as Agresti and Min's adjustment of the paired interval does: without it, a slot
where both predictors got every instance wrong would show dif = 0 with zero error and be
"measured" as text-dependent by models that learned nothing about it.

The rule that keeps noise from deciding (stated in the report):

* support < ``min_support`` validation instances: ``low support``; the slot takes the
  fallback decision (default: the paper's partition, measured on the full MEPAVE);
* otherwise image-dependent when dif - z*SE >= lambda, text-dependent when dif + z*SE < lambda;
* a slot whose interval contains lambda is ``uncertain`` and takes the fallback decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

IMAGE, TEXT = "image", "text"
MEASURED, LOW_SUPPORT, UNCERTAIN = "measured", "low support", "uncertain"
FALLBACKS = ("reference", "text")


@dataclass(frozen=True)
class PartitionRule:
    lam: float = 9.0                    # percentage points
    min_support: int = 5
    z: float = 1.96
    fallback: str = "reference"         # decision for low-support / uncertain slots

    def __post_init__(self) -> None:
        if self.fallback not in FALLBACKS:
            raise ValueError(f"fallback {self.fallback!r}: expected one of {FALLBACKS}")


def slot_table(predictions: pd.DataFrame, slots: Sequence[str]) -> pd.DataFrame:
    """One row per slot (all ``slots``, also those with no validation instance).

    ``predictions``: columns mode, seed, sid, slot, start, correct (one row per mode, seed and
    validation instance).
    """
    key = ["sid", "slot", "start"]
    per_seed = (predictions.groupby(["mode", "slot", "seed"])["correct"].mean() * 100).unstack("seed")
    per_instance = predictions.groupby(["mode", *key])["correct"].mean().unstack("mode")
    rows = []
    for slot in slots:
        row: dict = {"slot": slot}
        inst = per_instance.xs(slot, level="slot") if slot in per_instance.index.get_level_values("slot") else None
        n = 0 if inst is None else int(len(inst))
        row["support"] = n
        for mode, short in (("text", "T"), ("multimodal", "M")):
            if n and (mode, slot) in per_seed.index:
                accs = per_seed.loc[(mode, slot)].dropna().to_numpy()
                row[f"a_{short}"] = float(accs.mean())
                row[f"a_{short}_std"] = float(accs.std(ddof=1)) if len(accs) > 1 else 0.0
            else:
                row[f"a_{short}"] = np.nan
                row[f"a_{short}_std"] = np.nan
        if n and {"text", "multimodal"} <= set(inst.columns):
            row["dif"], row["dif_se"] = paired_difference(inst)
        else:
            row["dif"] = np.nan
            row["dif_se"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def paired_difference(per_instance: pd.DataFrame) -> tuple[float, float]:
    """Mean of correct_M - correct_T over instances (points) and its adjusted standard error.
    ``per_instance``: one row per instance, columns ``text`` and ``multimodal`` (seed means)."""
    d = (per_instance["multimodal"] - per_instance["text"]).to_numpy() * 100
    adjusted = np.concatenate([d, [100.0, -100.0]])
    return float(d.mean()), float(adjusted.std(ddof=1) / np.sqrt(len(adjusted)))


def text_evidence(predictions: pd.DataFrame, text_slots: Sequence[str], z: float = 1.96) -> dict:
    """P^M against P^T on the instances of text-dependent slots, where the image adds nothing
    and eq. (3), which gates the text through the image, must keep what P^T knows.
    ``kept`` is False when P^M is below P^T beyond noise: dif + z*SE < 0."""
    part = predictions[predictions["slot"].isin(list(text_slots))]
    per_instance = part.groupby(["mode", "sid", "slot", "start"])["correct"].mean().unstack("mode")
    if per_instance.empty or not {"text", "multimodal"} <= set(per_instance.columns):
        return {"instances": 0, "a_T": None, "a_M": None, "dif": None, "dif_se": None, "kept": False}
    dif, se = paired_difference(per_instance.dropna())
    return {"instances": int(len(per_instance)), "a_T": float(per_instance["text"].mean() * 100),
            "a_M": float(per_instance["multimodal"].mean() * 100), "dif": dif, "dif_se": se,
            "kept": bool(dif + z * se >= 0)}


def decide(table: pd.DataFrame, rule: PartitionRule, reference: Mapping[str, str]) -> pd.DataFrame:
    """Add ``decision``, ``basis`` (measured / low support / uncertain), ``paper`` and ``agrees``."""
    out = table.copy()
    decisions, bases = [], []
    for r in out.itertuples(index=False):
        fallback = reference.get(r.slot, TEXT) if rule.fallback == "reference" else TEXT
        if r.support < rule.min_support or np.isnan(r.dif):
            decisions.append(fallback)
            bases.append(LOW_SUPPORT)
            continue
        se = 0.0 if np.isnan(r.dif_se) else r.dif_se
        if r.dif - rule.z * se >= rule.lam:
            decisions.append(IMAGE)
            bases.append(MEASURED)
        elif r.dif + rule.z * se < rule.lam:
            decisions.append(TEXT)
            bases.append(MEASURED)
        else:
            decisions.append(fallback)
            bases.append(UNCERTAIN)
    out["decision"] = decisions
    out["basis"] = bases
    out["paper"] = [reference.get(s) for s in out["slot"]]
    out["agrees"] = out["decision"] == out["paper"]
    return out


def partition(decided: pd.DataFrame) -> dict[str, list[str]]:
    return {IMAGE: decided.loc[decided["decision"] == IMAGE, "slot"].tolist(),
            TEXT: decided.loc[decided["decision"] == TEXT, "slot"].tolist()}
