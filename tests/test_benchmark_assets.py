"""The benchmark assets' wiring: outside `*mavp`, in their own job, and a clear failure without a dataset
(the tables themselves: tests/test_default_sample.py and, as typed, tests/test_paper_profile.py)."""

import dagster as dg

from assets.benchmark import benchmark_job, mujo_sf_benchmark, mujo_sf_model
from assets.definitions import all_assets, defs
from assets.mavp import full_rebuild
from assets.resources import MavpHome


def test_the_benchmark_is_not_part_of_the_dataset_build_and_has_its_job():
    graph = defs.get_repository_def().asset_graph
    rebuild = full_rebuild.selection.resolve(graph)
    assert mujo_sf_model.key not in rebuild and mujo_sf_benchmark.key not in rebuild
    assert benchmark_job.selection.resolve(graph) == {mujo_sf_model.key, mujo_sf_benchmark.key}
    assert defs.resolve_job_def("mavp_benchmark").name == "mavp_benchmark"


def test_without_a_dataset_the_benchmark_says_to_materialize_mavp_first(tmp_path):
    result = dg.materialize(all_assets, selection=[mujo_sf_benchmark], raise_on_error=False,
                            resources={"mavp_home": MavpHome(home=str(tmp_path / "home"))})
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "materialize mavp first" in failure
