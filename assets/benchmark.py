"""The MuJo-SF benchmark of the built dataset (paper sections III-C and IV): ``mujo_sf_model``
trains the joint model on MAVP's train split; ``mujo_sf_benchmark`` trains its baselines and
ablations on the same data and splits and shows Table VII, Table VIII, per-slot SA and the
label-reliability experiment, and adds them to the dataset's card and quality report.

Neither is part of ``*mavp``: the dataset builds as fast without them. The ``mavp_benchmark``
job runs both; ``dagster asset materialize --select mujo_sf_benchmark`` alone trains what it
needs (the model with the settings of the last ``mujo_sf_model`` run, or the profile's).
"""


import json
from dataclasses import asdict

import dagster as dg
import pandas as pd

from assets.configs import run_config_class, to_settings
from assets.mavp import mavp
from assets.metadata import OWNERS, code_version, home_path, table
from assets.resources import MavpHome
from assets.saliency import CPU_HEAVY
from pipeline.benchmark.config import BenchmarkConfig, MujoSFConfig
from pipeline.home import HomeLayout
from pipeline.mavp.build import json_safe
from pipeline.io import write_json, write_parquet, write_text
from pipeline.profiles import active_profile

GROUP = "benchmark"
TAGS = {"mavp/stage": "benchmark"}
MODEL_RECORD, BENCHMARK_RECORD, BENCHMARK_MD = "mujo_sf_model.json", "mujo_sf_benchmark.json", "mujo_sf_benchmark.md"
CODE = code_version("pipeline/benchmark", "models/mujo_sf.py", "models/text.py", "models/training.py",
                    "models/attributes.py")

MujoSFRunConfig = run_config_class(
    "MujoSFRunConfig", MujoSFConfig, "MuJo-SF (eqs. 4-12): lambda_text / lambda_image are eq. 12's λ1 / λ2; "
    "text_encoder a BERT name or local directory ('' = a small random-init one); the image encoder a timm "
    "name with its shape and local weights.", "mujo_sf_model")
BenchmarkRunConfig = run_config_class(
    "BenchmarkRunConfig", BenchmarkConfig, "Bootstrap resamples and confidence of the intervals; "
    "min_reliability: image labels below it are left out of the 'reliable labels' run.", "mujo_sf_benchmark")


def _slot_data(layout: HomeLayout, image_size: int):
    from pipeline.benchmark.data import load_slot_data      # torch: imported only where it trains

    build = layout.dataset.resolve()
    if not (build / "schema.json").is_file():
        raise dg.Failure(f"no dataset at {layout.relative(layout.dataset)}: materialize mavp first")
    return build, load_slot_data(build, image_size, layout.cache("mujo_sf"))


def _score_rows(data, record: dict) -> pd.DataFrame:
    """JGA and SA per split and slot type (the benchmark adds their intervals)."""
    import numpy as np

    from pipeline.benchmark.metrics import instance_scores
    from pipeline.benchmark.train import load_predictions

    predicted, rows = load_predictions(record), []
    for split in ("validation", "test"):
        r = data.rows(split)
        for kind, targets in (("text", data.text_targets), ("image", data.image_targets)):
            jga, sa = instance_scores(predicted[kind][r], targets[r])
            counted = int((~np.isnan(jga)).sum())
            rows.append({"split": split, "slots": "T-D" if kind == "text" else "I-D", "instances": counted,
                         "JGA": float(np.nanmean(jga)) if counted else None,
                         "SA": float(np.nanmean(sa)) if counted else None})
    return pd.DataFrame(rows)


@dg.asset(group_name=GROUP, deps=[mavp], op_tags=CPU_HEAVY, kinds={"pytorch", "transformers", "timm"},
          owners=OWNERS, tags=TAGS, code_version=CODE,
          description="MuJo-SF (paper III-C, eqs. 4-12) trained on MAVP's train split: BERT for descriptions, a "
                      "frozen BERT_fixed for slots and values, a Swin for the image, cross-attention both ways, "
                      "L2 scoring of text slots, a softmax head per image slot, loss λ1 L^T + λ2 L^I. "
                      "Content-keyed: reused while the dataset and settings stay.")
def mujo_sf_model(context: dg.AssetExecutionContext, config: MujoSFRunConfig, mavp_home: MavpHome) -> dg.MaterializeResult:
    from pipeline.benchmark.train import VARIANTS, train_variant

    layout, settings = mavp_home.layout, to_settings(config, MujoSFConfig)
    build, data = _slot_data(layout, settings.image_size)
    write_parquet(data.rejects, layout.rejects("mujo_sf_model"))
    record = train_variant(VARIANTS["mujo_sf"], settings, data, layout.models("mujo_sf"))
    context.log.info(f"MuJo-SF {'reused' if record['reused'] else 'trained'} in {record['seconds']} s")
    write_json({"config": asdict(settings), "dataset": build.name, "record": record}, layout.benchmark(MODEL_RECORD))
    return dg.MaterializeResult(metadata={
        "scores (against the dataset's labels)": table(_score_rows(data, record)),
        "history": table(pd.DataFrame(record["history"])),
        "instances": dg.MetadataValue.json({s: int(len(data.rows(s))) for s in ("train", "validation", "test")}),
        "rejects": int(len(data.rejects)),
        "parameters": record["parameters"],
        "seconds": record["seconds"],
        "device": record["device"],
        "reused": record["reused"],
        "checkpoint": home_path(layout, f"{record['dir']}/model.pt"),
    })


def model_settings(layout: HomeLayout) -> MujoSFConfig:
    """The settings of the last ``mujo_sf_model`` run, or the profile's when it has not run."""
    path = layout.benchmark(MODEL_RECORD)
    if path.is_file():
        return to_settings(MujoSFRunConfig(**json.loads(path.read_text(encoding="utf-8"))["config"]), MujoSFConfig)
    return active_profile().settings_for("mujo_sf_model")


def _encoders(settings: MujoSFConfig) -> str:
    text = settings.text_encoder or f"a random-init {settings.text_layers}-layer, {settings.text_hidden}-d BERT"
    image = f"{settings.backbone} at {settings.image_size} px" + (", ImageNet weights" if settings.weights else
                                                                   " (random init, resized)" if settings.custom_arch else "")
    return f"text: {text}; image: {image}"


@dg.asset(group_name=GROUP, deps=[mujo_sf_model], op_tags=CPU_HEAVY, kinds={"pytorch", "transformers", "timm"},
          owners=OWNERS, tags=TAGS, code_version=CODE,
          description="Table VII (MuJo-SF against text-only BERT and image-only Swin) and Table VIII (without "
                      "cross-attention, without the T-D loss, without the I-D loss) on MAVP's splits: JGA and SA "
                      "with paired bootstrap intervals and paired t-tests, SA per slot, and whether dropping "
                      "unreliable image labels helps. Added to the dataset's card and quality report.")
def mujo_sf_benchmark(context: dg.AssetExecutionContext, config: BenchmarkRunConfig,
                      mavp_home: MavpHome) -> dg.MaterializeResult:
    from pipeline.benchmark.report import baseline_markdown, benchmark_report
    from pipeline.benchmark.train import VARIANTS, train_variant
    from pipeline.mavp.publish import publish_baselines

    layout, bench = mavp_home.layout, to_settings(config, BenchmarkConfig)
    settings = model_settings(layout)
    build, data = _slot_data(layout, settings.image_size)
    write_parquet(data.rejects, layout.rejects("mujo_sf_benchmark"))
    records = {}
    for name, variant in VARIANTS.items():
        records[name] = train_variant(variant, settings, data, layout.models("mujo_sf"), bench.min_reliability)
        context.log.info(f"{name}: {'reused' if records[name]['reused'] else 'trained'} ({records[name]['seconds']} s)")
    report = benchmark_report(data, records, mavp_home.sample_truth(), bench)
    markdown = baseline_markdown(report, _encoders(settings))
    results = json_safe({k: (v.to_dict("records") if isinstance(v, pd.DataFrame) else v) for k, v in report.items()})
    write_json(results, layout.benchmark(BENCHMARK_RECORD))
    write_text(markdown, layout.benchmark(BENCHMARK_MD))
    folder, linked = publish_baselines(layout.root, build, markdown, layout.benchmark(BENCHMARK_RECORD))
    context.log.info(f"baseline results {'added to' if linked else 'written beside (a newer build is current)'} "
                     f"{layout.relative(folder)}")
    return dg.MaterializeResult(metadata={
        "table_vii": table(report["table_vii"]),
        "table_viii": table(report["table_viii"]),
        "significance": table(report["significance"]),
        "slot_accuracy (test)": table(report["slot_accuracy"]),
        "reliability_experiment": table(report["reliability"]),
        "reliability_verdict": dg.MetadataValue.json({k: v["verdict"] for k, v in report["reliability_verdict"].items()}),
        "training": table(report["training"]),
        "model_and_baselines_seconds": report["model_and_baselines_seconds"],
        "reused": dg.MetadataValue.json({name: r["reused"] for name, r in records.items()}),
        "baseline_results": dg.MetadataValue.md(markdown),
        "dataset_build": folder.name,
        "on_card": linked,
        "report": home_path(layout, layout.benchmark(BENCHMARK_MD)),
    })


def _benchmark(mavp_home: MavpHome) -> dict:
    return json.loads(mavp_home.layout.benchmark(BENCHMARK_RECORD).read_text(encoding="utf-8"))


@dg.asset_check(asset=mujo_sf_benchmark, blocking=False,
                description="MuJo-SF beats each slot's majority value on test SA, on both slot types.")
def mujo_sf_beats_majority(mavp_home: MavpHome) -> dg.AssetCheckResult:
    scores = _benchmark(mavp_home)["scores"]
    rows = [{"slots": kind, "MuJo-SF SA": scores["mujo_sf"]["test"][kind]["sa"],
             "majority SA": scores["majority"]["test"][kind]["sa"]} for kind in ("text", "image")]
    failing = [r["slots"] for r in rows                  # None: no instance of the type was scored
               if r["MuJo-SF SA"] is None or r["majority SA"] is None or not r["MuJo-SF SA"] > r["majority SA"]]
    return dg.AssetCheckResult(passed=not failing, severity=dg.AssetCheckSeverity.WARN,
                               description=f"not above the majority: {failing}" if failing else "above on both",
                               metadata={"test_sa": table(pd.DataFrame(rows))})


@dg.asset_check(asset=mujo_sf_benchmark, blocking=False,
                description="The dataset's card and quality report carry these baseline results.")
def baseline_results_on_card(mavp_home: MavpHome) -> dg.AssetCheckResult:
    from pipeline.mavp.publish import BASELINES_FILE, BASELINES_HEADING

    layout = mavp_home.layout
    shown = layout.benchmark(BENCHMARK_MD).read_text(encoding="utf-8")
    card = (layout.dataset / "README.md").read_text(encoding="utf-8")
    quality = layout.dataset_report("quality.md").read_text(encoding="utf-8")
    saved = layout.dataset_report(BASELINES_FILE)
    missing = [name for name, text in (("card", card), ("quality.md", quality)) if shown not in text]
    if not saved.is_file() or saved.read_bytes() != layout.benchmark(BENCHMARK_RECORD).read_bytes():
        missing.append(f"reports/{BASELINES_FILE}")
    return dg.AssetCheckResult(passed=not missing and BASELINES_HEADING in shown,
                               description=f"missing from: {missing}" if missing else "card, quality.md and JSON match")


benchmark_assets = [mujo_sf_model, mujo_sf_benchmark]
benchmark_checks = [mujo_sf_beats_majority, baseline_results_on_card]
benchmark_job = dg.define_asset_job("mavp_benchmark", selection=benchmark_assets,
                                    description="MuJo-SF and its baselines on the built dataset (Tables VII and VIII).")
