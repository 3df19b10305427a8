"""Everything the ``mavp`` asset does, as one plain function over tables: text values, merge,
splits, reports, and the :class:`DatasetBuild` that :func:`pipeline.mavp.publish.publish` writes."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from pipeline.categorise import coverage
from pipeline.mavp.assemble import apply_min_reliability, assemble_rows, assign_splits, contract_columns
from pipeline.mavp.contact import contact_sheet, least_reliable
from pipeline.mavp.publish import DatasetBuild
from pipeline.mavp.quality import (accuracy_chart, rejects_summary, reliability_table, risk_coverage_chart, table_v,
                                   table_vi, truth_accuracy, value_distribution_chart, value_distributions)
from pipeline.mavp.text_values import text_values
from pipeline.records import relative_rejects, relative_to_root
from pipeline.reporting import markdown_table
from pipeline.schema import Schema
from pipeline.splits import SPLITS, leakage


CLASSIFIER_COLUMNS = ["slot", "status", "source", "tasks", "strategy", "model", "validation_accuracy", "test_accuracy",
                      "unmapped_labels"]


@dataclass(frozen=True)
class AssemblyConfig:
    split: str = "grouped"          # grouped (no cid in two splits) or random (the paper's, over instances)
    seed: int = 0
    name: str = "MAVP"
    min_reliability: float = 0.0    # image labels below it become none (source none); 0 keeps all


@dataclass
class BuildInputs:
    records: pd.DataFrame                       # mepave_records
    images: pd.DataFrame                        # mepave_image_records (cid, image_path)
    labels: pd.DataFrame                        # image labels (cid, slot, value, confidence, source, reason)
    partition: Mapping[str, Sequence[str]]
    rejects: Mapping[str, pd.DataFrame]         # every upstream rejects table, by name
    saliency: pd.DataFrame | None = None        # slot_saliency table
    classifiers: pd.DataFrame | None = None     # slot_classifiers table
    source_tables: Mapping[str, str] | None = None   # Tables I-IV as markdown, by source
    saliency_chart: Path | None = None
    truth: pd.DataFrame | None = None
    home: Path | None = None                    # published paths (checkpoints) are relative to it
    source_roots: Sequence[Path] = ()           # reject locations are relative to the one holding them
    categories: pd.DataFrame | None = None      # mepave_categories: cid, category, by, confidence


def schema_document(schema: Schema, partition: Mapping[str, Sequence[str]], columns: Sequence[str]) -> dict:
    computed = {s: "image" for s in partition["image"]} | {s: "text" for s in partition["text"]}
    return {"slots": [{"key": s.key, "zh": s.zh, "modality": computed.get(s.key), "paper_modality": s.paper_modality,
                       "values": list(s.values)} for s in schema.slots],
            "categories": [{"name": c.name, "slots": list(c.slots),
                            "image_slots": [s for s in c.slots if s in partition["image"]],
                            "text_slots": [s for s in c.slots if s in partition["text"]]} for c in schema.categories],
            "partition": {k: list(v) for k, v in partition.items()}, "columns": list(columns), "none": "none"}


def json_safe(value):
    """NaN and numpy scalars to what strict JSON holds."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def published_classifiers(classifiers: pd.DataFrame, home: Path | None) -> pd.DataFrame:
    """The slot classifier table as published: no label map, checkpoints relative to ``home``."""
    out = classifiers.drop(columns=["label_to_value"], errors="ignore")
    if "checkpoint" in out:
        out["checkpoint"] = out["checkpoint"].map(lambda p: relative_to_root(p, home) if isinstance(p, str) else p)
    return out


def _png(draw) -> bytes:
    """The bytes of the PNG ``draw(file)`` saves: charts are part of what keys a build."""
    buffer = io.BytesIO()
    draw(buffer)
    return buffer.getvalue()


def _md(title: str, frame: pd.DataFrame | None) -> str:
    body = (markdown_table(frame.round(3), max_rows=len(frame), max_chars=40) if frame is not None
            else "_(not available)_")
    return f"## {title}\n\n{body}\n"


def build_dataset(inputs: BuildInputs, schema: Schema, config: AssemblyConfig) -> tuple[DatasetBuild, dict]:
    text = text_values(inputs.records, schema)
    image_rel, used_images = {}, {}            # cid -> image file name; that name -> source file
    for cid, path in zip(inputs.images["cid"], inputs.images["image_path"]):
        image_rel[cid] = f"{cid}{Path(path).suffix.lower() or '.jpg'}"
        used_images[image_rel[cid]] = path
    labels, removed = apply_min_reliability(inputs.labels, config.min_reliability)
    rows = assemble_rows(inputs.records, text.valid, labels, image_rel, inputs.partition, schema)
    split = assign_splits(rows, config.split, config.seed)
    splits = {s: rows[split == s].reset_index(drop=True) for s in SPLITS}
    image_slots = sorted(inputs.partition["image"])

    with_split = rows.assign(split=split)
    v = table_v(rows, inputs.partition, schema)
    vi = table_vi(with_split, text.valid, image_slots, inputs.truth)
    truth = truth_accuracy(labels, inputs.truth, image_slots) if inputs.truth is not None else None
    reliability = reliability_table(inputs.labels, inputs.truth, image_slots) if inputs.truth is not None else None
    distributions = value_distributions(rows, schema.slot_keys)
    rejects = {name: relative_rejects(frame, [*inputs.source_roots, *([inputs.home] if inputs.home else [])])
               for name, frame in {**inputs.rejects, "mavp_text_values": text.rejects}.items()}
    rejected = rejects_summary(rejects)
    leaks = leakage(rows["cid"].tolist(), split)
    no_image = inputs.labels[inputs.labels["reason"] == "no_usable_image"]["cid"].nunique()
    categorised = coverage(inputs.categories, inputs.truth) if inputs.categories is not None else None
    counts = {s: int(len(f)) for s, f in splits.items()}
    quality = json_safe({
        "split": {"mode": config.split, "seed": config.seed, "instances": counts, "leakage": leaks},
        "table_v": v.to_dict("records"), "table_vi": vi.to_dict("records"),
        "truth_accuracy": truth.to_dict("records") if truth is not None else None,
        "reliability": reliability.to_dict("records") if reliability is not None else None,
        "min_reliability": {"threshold": config.min_reliability, "removed_by_slot": removed,
                            "removed_total": int(sum(removed.values()))},
        "products_without_usable_image": int(no_image),
        "categories": categorised.to_dict("records") if categorised is not None else None,
        "text_values": text.stats,
        "rejects": rejected.to_dict("records"), "rejects_total": int(rejected["count"].sum()),
        "value_distributions": distributions.to_dict("records"),
        "saliency": inputs.saliency.to_dict("records") if inputs.saliency is not None else None,
        "slot_classifiers": (published_classifiers(inputs.classifiers, inputs.home).to_dict("records")
                             if inputs.classifiers is not None else None),
        "partition": {k: list(v_) for k, v_ in inputs.partition.items()},
        "config": asdict(config),
    })
    summary_md = "\n".join([
        f"# {config.name} quality report", "",
        f"Split `{config.split}` (seed {config.seed}): " + ", ".join(f"{s} {n}" for s, n in counts.items())
        + f". Products in more than one split: {leaks['groups_in_several_splits']} "
          f"({leaks['items_of_those_groups']} instances).",
        f"Products without a usable image (image slots `none`, source `none`): {no_image}.",
        f"Sentences with two values for one slot (first kept, the rest in rejects): "
        f"{text.stats['sentences_with_two_values_for_a_slot']}.", "",
        _md("Table V: statistics per category", v),
        (_md("Product categories: from the sentences' words, from the image, or none (sentences rejected)",
             categorised) if categorised is not None else ""),
        _md("Table VI: distant labels against the sentence annotation (relative accuracy, out-of-fold)", vi),
        "Relative accuracy compares the image label with the value the sentence annotates, where both exist. "
        "It is out-of-fold: where sentences name a slot's value, the classifier is adapted to MEPAVE images on "
        "those products, cross-fitted over folds of products, and each product is labelled by the model of "
        "the folds that do not hold it, so no label was fitted to the sentence it is compared with."
        + (" `truth_accuracy_same_rows` scores the same image labels against the generator's truth, "
           "`annotation_matches_truth` the annotation itself: the two accuracies can only differ where the "
           "annotation disagrees with the truth." if inputs.truth is not None else ""), "",
        _md("Distant labels against the truth (all labelled products)", truth) if truth is not None else "",
        (_md("Reliability of the image labels against the truth", reliability)
         + "`auroc`: how well the reliability tells right labels from wrong ones; `accuracy_top_K`: accuracy of "
           "the K % most reliable labels; `source_only_accuracy`: the source classifier before the adaptation. "
           "![risk-coverage](risk_coverage.png)\n") if reliability is not None else "",
        f"Labels removed by `min_reliability` = {config.min_reliability}: {int(sum(removed.values()))} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(removed.items())) or 'none'}).\n",
        "## Least reliable labels per image slot\n\n" + "\n".join(
            f"![{slot}](contact_{slot}.png)" for slot in image_slots) + "\n",
        _md("Saliency per slot (Fig. 3)", inputs.saliency),
        _md("Classifier per image slot", inputs.classifiers[CLASSIFIER_COLUMNS]
            if inputs.classifiers is not None else None),
        *[f"{md}\n" for md in (inputs.source_tables or {}).values()],
        _md("Rejects by table, source and reason", rejected),
        _md("Values per slot", distributions),
        "![Table VI](table_vi.png)\n\n![values](values.png)\n"
        + ("\n![saliency](saliency.png)\n" if inputs.saliency_chart else ""),
    ])
    charts = {"table_vi.png": _png(lambda p: accuracy_chart(vi, truth, p)),
              "values.png": _png(lambda p: value_distribution_chart(distributions, schema.slot_keys, p))}
    if reliability is not None:
        charts["risk_coverage.png"] = _png(lambda p: risk_coverage_chart(inputs.labels, inputs.truth, image_slots, p))
    image_of = dict(zip(inputs.images["cid"], inputs.images["image_path"]))
    for slot in image_slots:
        charts[f"contact_{slot}.png"] = contact_sheet(least_reliable(inputs.labels, slot), image_of, slot,
                                                      schema.slot(slot).values)
    if inputs.saliency_chart is not None:
        charts["saliency.png"] = Path(inputs.saliency_chart).read_bytes()
    columns = contract_columns(schema, image_slots)
    build = DatasetBuild(
        name=config.name, summary_md=summary_md.split("\n", 1)[1],
        splits=splits, images=used_images, schema=schema_document(schema, inputs.partition, columns),
        rejects=rejects, reports={"quality.json": quality, "quality.md": summary_md}, charts=charts)
    return build, {"quality": quality, "markdown": summary_md, "table_v": v, "table_vi": vi, "truth": truth,
                   "reliability": reliability, "counts": counts}
