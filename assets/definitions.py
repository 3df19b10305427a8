"""The Dagster code location: ``dagster dev`` and ``dg`` at the repo root load this (pyproject ``[tool.dg]``)."""


import os

import dagster as dg

from assets.categories import category_assets
from assets.resources import MavpHome
from assets.saliency import saliency_assets, saliency_checks
from assets.distant import distant_assets, distant_checks
from assets.mavp import full_rebuild, mavp_assets, mavp_checks, source_change_sensor, weekly_rebuild
from assets.sources import ifashion_images, mepave_image_records, profile, sample_sources, source_assets, source_checks

all_assets = [profile, sample_sources, ifashion_images, *source_assets, mepave_image_records, *category_assets,
              *saliency_assets, *distant_assets,
              *mavp_assets]

build_all = dg.define_asset_job("build_all", selection=dg.AssetSelection.all(),
                                description="Materialize every asset on the configured profile.")

# On a small machine every step either trains (and uses every core) or takes milliseconds, so
# one process runs the graph fastest: a subprocess per step costs seconds of imports each, which
# on 2 cores was a third of the build. MAVP_EXECUTOR=multiprocess runs steps in parallel
# processes instead (bigger machines), with at most one cpu-heavy step (training, feature
# extraction) at a time, since two at once only make both slower.
if os.environ.get("MAVP_EXECUTOR", "in_process") == "multiprocess":
    executor = dg.multiprocess_executor.configured(
        {"tag_concurrency_limits": [{"key": "mavp/resource", "value": "cpu-heavy", "limit": 1}]})
else:
    executor = dg.in_process_executor

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=[*source_checks, *saliency_checks, *distant_checks, *mavp_checks],
    jobs=[build_all, full_rebuild],
    schedules=[weekly_rebuild],
    sensors=[source_change_sensor],
    executor=executor,
    resources={"mavp_home": MavpHome()},
)
