"""Benchmark of the whole build the README's main command runs (budget on 2 CPU cores: `*mavp`
from an empty home in at most 6 minutes; a rerun with nothing changed in at most 30 s).

Runs the real CLI, `dagster asset materialize -m assets.definitions`, three times on one fresh
home: `--select '*mavp'` (empty home), `--select '*mavp'` again (nothing changed: features,
checkpoints, labels and the dataset build are reused by content key), and `--select mavp`
(only the assembly). Prints the three wall times, each step's time in the first two (from
Dagster's run storage), and the dataset's split sizes.

    python -m benchmarks.mavp_build [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def step_seconds(home: Path) -> dict[str, float]:
    """Each step's time in the home's latest run, from the run storage under ``home`` (Dagster's
    step stats: the CLI prints only the steps' own log lines)."""
    from dagster import DagsterInstance

    os.environ["MAVP_HOME"] = str(home)
    instance = DagsterInstance.from_config(str(REPO))
    latest = instance.get_runs(limit=1)[0]
    return {s.step_key: round(s.end_time - s.start_time, 1) for s in instance.get_run_step_stats(latest.run_id)
            if s.start_time and s.end_time}


def materialize(home: Path, selection: str, config_json: str | None = None) -> tuple[float, dict[str, float]]:
    env = {**{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}, "MAVP_HOME": str(home)}
    dagster = Path(sys.executable).with_name("dagster")
    config = ["--config-json", config_json] if config_json else []
    t0 = time.perf_counter()
    done = subprocess.run([str(dagster), "asset", "materialize", "--select", selection, "-m", "assets.definitions",
                           *config], cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-5000:] + done.stderr[-5000:])
        raise SystemExit(f"materialize {selection!r} failed ({done.returncode})")
    return seconds, step_seconds(home)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="mavp-bench-"))
    fresh, fresh_steps = materialize(home, "*mavp")
    rerun, rerun_steps = materialize(home, "*mavp")
    assembly, _ = materialize(home, "mavp")
    quality = json.loads((home / "dataset" / "reports" / "quality.json").read_text(encoding="utf-8"))
    print(f"home: {home}")
    print(f"{'step (slowest first)':40s} {'empty home':>10s} {'rerun':>8s}")
    for step, took in sorted(fresh_steps.items(), key=lambda kv: -kv[1]):
        print(f"{step:40s} {took:9.1f}s {rerun_steps.get(step, float('nan')):7.1f}s")
    print(f"*mavp from an empty home: {fresh:6.1f} s  (budget 360 s)")
    print(f"*mavp rerun, unchanged:   {rerun:6.1f} s  (budget 30 s)")
    print(f"mavp only (assembly):     {assembly:6.1f} s")
    print(f"splits: {quality['split']['instances']}  leakage: {quality['split']['leakage']}")


if __name__ == "__main__":
    main()
