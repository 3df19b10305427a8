"""Benchmark of the whole build the README's main command runs (budget on 2 CPU cores: `*mavp`
from an empty home in at most 5 minutes; a rerun with nothing changed in at most 60 s).

Runs the real CLI, `dagster asset materialize -m assets.definitions`, three times on one fresh
home: `--select '*mavp'` (empty home), `--select '*mavp'` again (nothing changed: features,
checkpoints, labels and the dataset build are reused by content key), and `--select mavp`
(only the assembly). Prints the three wall times and the dataset's split sizes.

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


def materialize(home: Path, selection: str, config_json: str | None = None) -> float:
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
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="mavp-bench-"))
    fresh = materialize(home, "*mavp")
    rerun = materialize(home, "*mavp")
    assembly = materialize(home, "mavp")
    quality = json.loads((home / "dataset" / "reports" / "quality.json").read_text(encoding="utf-8"))
    print(f"home: {home}")
    print(f"*mavp from an empty home: {fresh:6.1f} s  (budget 300 s)")
    print(f"*mavp rerun, unchanged:   {rerun:6.1f} s  (budget 60 s)")
    print(f"mavp only (assembly):     {assembly:6.1f} s")
    print(f"splits: {quality['split']['instances']}  leakage: {quality['split']['leakage']}")


if __name__ == "__main__":
    main()
