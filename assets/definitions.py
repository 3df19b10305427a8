"""The Dagster code location: ``dagster dev`` and ``dg`` at the repo root load this (pyproject ``[tool.dg]``)."""


import os

import dagster as dg

from assets.benchmark import benchmark_assets, benchmark_checks, benchmark_job
from assets.categories import category_assets
from assets.partitions import SHARDS
from assets.resources import MavpHome
from assets.saliency import saliency_assets, saliency_checks
from assets.distant import distant_assets, distant_checks
from assets.mavp import SHARDED, full_rebuild, mavp_assets, mavp_checks, shard_jobs, source_change_sensor, weekly_rebuild
from assets.sources import ifashion_images, mepave_image_records, profile, sample_sources, source_assets, source_checks

all_assets = [profile, sample_sources, ifashion_images, *source_assets, mepave_image_records, *category_assets,
              *saliency_assets, *distant_assets,
              *mavp_assets, *benchmark_assets]

_all = dg.AssetSelection.all()
build_all = dg.define_asset_job("build_all", selection=_all - SHARDED if SHARDS else _all,
                                description="Materialize every asset on the configured profile (with shards: "
                                            "every unpartitioned one; the mavp_*_shards jobs do the rest).")

# On a small machine every step either trains (and uses every core) or takes milliseconds, so
# one process runs the graph fastest: a subprocess per step costs seconds of imports each, which
# on 2 cores was a third of the build. MAVP_EXECUTOR chooses another:
# - multiprocess: steps in parallel processes (bigger machines), with at most one cpu-heavy step
#   (training, feature extraction) at a time, since two at once only make both slower;
# - dask: steps on a Dask cluster (dagster-dask). With no executor config a LocalCluster starts;
#   a run config `execution: {config: {cluster: {existing: {address: tcp://scheduler:8786}}}}`
#   sends them to a running cluster, whose workers have this project installed (README).
EXECUTOR = os.environ.get("MAVP_EXECUTOR", "in_process")
if EXECUTOR == "multiprocess":
    executor = dg.multiprocess_executor.configured(
        {"tag_concurrency_limits": [{"key": "mavp/resource", "value": "cpu-heavy", "limit": 1}]})
elif EXECUTOR == "dask":
    from dagster_dask import dask_executor as executor
elif EXECUTOR == "in_process":
    executor = dg.in_process_executor
else:
    raise ValueError(f"MAVP_EXECUTOR={EXECUTOR!r}: expected in_process, multiprocess or dask")

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=[*source_checks, *saliency_checks, *distant_checks, *mavp_checks, *benchmark_checks],
    jobs=[build_all, full_rebuild, benchmark_job, *shard_jobs],
    schedules=[weekly_rebuild],
    sensors=[source_change_sensor],
    executor=executor,
    resources={"mavp_home": MavpHome()},
)
