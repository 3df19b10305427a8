"""The same data built in two homes must give byte-identical datasets (DESIGN.md section 6):
nothing published may hold an absolute path of the machine that built it.

Runs the README's build, `dagster asset materialize --select '*mavp'`, from an empty home in
each of two folders of different depth, then compares every file of the two datasets byte for
byte and searches every file for either home's path. Prints the files that differ, exist in
one only, or name a home; exits 1 if there is any.

    python -m benchmarks.two_homes [--homes A B] [--config-json JSON]

``--config-json`` is passed to both runs (e.g. a smaller sample: ``{"ops": {"sample_sources":
{"config": {"scale": 0.2}}}}``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.mavp_build import materialize
from pipeline.mavp.publish import compare_datasets


def naming_a_home(dataset: Path, homes: list[Path]) -> list[str]:
    """Files of ``dataset`` whose bytes hold any of ``homes``' paths."""
    needles = {str(h).encode() for h in homes} | {str(h.resolve()).encode() for h in homes}
    return sorted(p.relative_to(dataset).as_posix() for p in dataset.rglob("*")
                  if p.is_file() and any(n in p.read_bytes() for n in needles))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--homes", type=Path, nargs=2, default=None)
    parser.add_argument("--config-json", default=None)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mavp-two-homes-"))
    homes = args.homes or [base / "a", base / "elsewhere" / "deeper" / "b"]
    for home in homes:
        (home / "dagster").mkdir(parents=True, exist_ok=True)
        seconds = materialize(home, "*mavp", args.config_json)
        print(f"built {home} in {seconds:.0f} s")
    a, b = ((h / "dataset").resolve() for h in homes)
    result = compare_datasets(a, b)
    leaks = {str(h): naming_a_home(h / "dataset", homes) for h in homes}
    print(f"files byte-identical: {len(result['same'])}")
    for kind in ("differ", "only_a", "only_b"):
        print(f"{kind}: {len(result[kind])} {result[kind][:20]}")
    for home, files in leaks.items():
        print(f"files naming a home, in {home}: {len(files)} {files[:20]}")
    sys.exit(1 if result["differ"] or result["only_a"] or result["only_b"] or any(leaks.values()) else 0)


if __name__ == "__main__":
    main()
