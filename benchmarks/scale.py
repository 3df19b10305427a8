"""How the build grows with the data: ``*mavp`` from an empty home at several sample scales.

For each scale (default 1, 4 and 16) a fresh home is built with the real CLI (`dagster asset
materialize --select '*mavp'`), the sample generated at that scale (every vision source and the
MEPAVE products ``scale`` times scale 1's: :func:`mepave_factor`), and every trained asset's
epochs set to ``--epochs`` (the same at every scale, so the ratios compare like with like and
the big runs finish). While a build runs, a sampler reads the resident memory (RSS) of the
CLI's whole process tree every ``--interval`` seconds; each step's peak is the highest sum seen
between its start and end (Dagster's step stats). A sum of RSS counts shared library pages once
per process, so it is an upper bound of what the machine held.

Prints, per step and scale, the seconds and the peak RSS, then each scale's ratio to scale 1
and the growth exponent (``log(t16 / t1) / log 16``: 1.0 is linear), and writes everything as
JSON (``--out``). The last lines project scale 66 (the paper's size) from the measured growth
of each step.

    python -m benchmarks.scale [--scales 1 4 16] [--epochs 5] [--out scale.json]
    python -m benchmarks.scale --report x1.json x4-16.json      # one table from separate runs

Run it on a quiet machine: anything else running changes the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.mavp_build import REPO

TRAINED = ("text_value_predictor", "multimodal_value_predictor", "fashionai_classifier",
           "utzap50k_classifier", "ifashion_classifier", "crawl_classifier")
PAPER_SCALE = 66
GIB = 1024 ** 3


def mepave_factor(scale: float) -> float:
    """The ``mepave_scale`` that makes the MEPAVE part ``scale`` times scale 1's products too: the
    generator keeps a floor of products per category, so ``scale`` alone grows MEPAVE only 1.05x
    at 4 and 2.5x at 16 (its products are linear in ``mepave_scale``)."""
    from pipeline.synth.world import category_sizes

    products = lambda *args: sum(p for p, _ in category_sizes(*args).values())   # noqa: E731
    return round(scale * products(1.0) / products(scale, 1.0), 4)


def run_config(scale: float, epochs: int | None) -> dict:
    ops = {"sample_sources": {"config": {"scale": scale, "mepave_scale": mepave_factor(scale)}}}
    if epochs is not None:
        ops.update({name: {"config": {"epochs": epochs}} for name in TRAINED})
    return {"ops": ops}


class TreeMemory:
    """Samples the summed RSS of a process and its descendants, with timestamps: all of it, and
    the anonymous part (RSS less file-backed and shared pages: what memory-mapped files, which
    the kernel can drop and read again, do not account for)."""

    def __init__(self, pid: int, interval: float):
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self.anonymous: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> tuple[int, int]:
        import psutil

        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0, 0
        total = anonymous = 0
        for process in processes:
            try:
                info = process.memory_info()
            except psutil.NoSuchProcess:
                continue
            total, anonymous = total + info.rss, anonymous + info.rss - info.shared
        return total, anonymous

    def _run(self) -> None:
        while not self._stop.is_set():
            now, (total, anonymous) = time.time(), self._rss()
            self.samples.append((now, total))
            self.anonymous.append((now, anonymous))
            self._stop.wait(self.interval)

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float | None = None, end: float | None = None, anonymous: bool = False) -> int:
        """The highest sample between ``start`` and ``end``; for a window shorter than the
        interval, the last sample before its end."""
        samples = self.anonymous if anonymous else self.samples
        inside = [rss for t, rss in samples if (start is None or t >= start) and (end is None or t <= end)]
        before = [rss for t, rss in samples if end is None or t <= end]
        return max(inside, default=before[-1] if before else 0)


def build(home: Path, scale: float, epochs: int | None, interval: float, select: str = "*mavp") -> dict:
    """One ``*mavp`` build from an empty ``home`` (or, with ``select``, those steps again on a
    built one): wall seconds, per-step seconds and peak RSS."""
    from dagster import DagsterInstance

    env = {**{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}, "MAVP_HOME": str(home)}
    dagster = Path(sys.executable).with_name("dagster")
    ops = run_config(scale, epochs)["ops"]
    chosen = ops if select == "*mavp" else {k: v for k, v in ops.items() if k in select.split(",")}
    config = ["--config-json", json.dumps({"ops": chosen})] if chosen else []
    command = [str(dagster), "asset", "materialize", "--select", select, "-m", "assets.definitions", *config]
    t0 = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with TreeMemory(process.pid, interval) as memory:
        output, _ = process.communicate()
    wall = time.perf_counter() - t0
    if process.returncode != 0:
        sys.stderr.write(output[-8000:])
        raise SystemExit(f"scale {scale}: materialize failed ({process.returncode})")
    os.environ["MAVP_HOME"] = str(home)
    instance = DagsterInstance.from_config(str(REPO))
    run_id = instance.get_runs(limit=1)[0].run_id
    steps = {}
    for stat in instance.get_run_step_stats(run_id):
        if stat.start_time and stat.end_time:
            steps[stat.step_key] = {"seconds": round(stat.end_time - stat.start_time, 1),
                                    "peak_rss_gib": round(memory.peak(stat.start_time, stat.end_time) / GIB, 2),
                                    "peak_anon_gib": round(memory.peak(stat.start_time, stat.end_time, True) / GIB, 2)}
    return {"scale": scale, "wall_seconds": round(wall, 1), "peak_rss_gib": round(memory.peak() / GIB, 2),
            "peak_anon_gib": round(memory.peak(anonymous=True) / GIB, 2), "steps": steps}


def exponent(small: float, large: float, ratio: float) -> float | None:
    return round(math.log(large / small) / math.log(ratio), 2) if small > 0 and large > 0 and ratio > 1 else None


def report(results: list[dict]) -> None:
    base, scales = results[0], [r["scale"] for r in results]
    steps = sorted(base["steps"], key=lambda s: -results[-1]["steps"].get(s, {}).get("seconds", 0))
    head = "".join(f"{'x' + format(s, 'g'):>9s}" for s in scales)
    ratios = "".join(f"{'r' + format(s, 'g'):>7s}" for s in scales[1:])
    print(f"{'step (slowest at the largest scale first)':42s}{head}{ratios}{'exp':>6s}  peak RSS GiB per scale"
          " (anonymous)")
    for step in steps:
        seconds = [r["steps"].get(step, {}).get("seconds", float("nan")) for r in results]
        rss = [r["steps"].get(step, {}) for r in results]
        growth = exponent(seconds[0], seconds[-1], scales[-1] / scales[0])
        print(f"{step:42s}" + "".join(f"{s:8.1f}s" for s in seconds)
              + "".join(f"{s / seconds[0]:7.1f}" if seconds[0] else f"{'-':>7s}" for s in seconds[1:])
              + f"{growth if growth is not None else '-':>6}  "
              + " ".join(f"{m.get('peak_rss_gib', float('nan')):.2f} ({m.get('peak_anon_gib', float('nan')):.2f})"
                         for m in rss))
    walls = [r["wall_seconds"] for r in results]
    print(f"{'whole build (wall)':42s}" + "".join(f"{w:8.1f}s" for w in walls)
          + "".join(f"{w / walls[0]:7.1f}" for w in walls[1:]))
    print("peak RSS of the whole build: " + ", ".join(f"x{r['scale']:g} {r['peak_rss_gib']:.2f} GiB" for r in results))
    print("peak anonymous RSS (no mapped files): " + ", ".join(
        f"x{r['scale']:g} {r['peak_anon_gib']:.2f} GiB" if "peak_anon_gib" in r else f"x{r['scale']:g} -" for r in results))
    if len(results) > 1:
        print(f"projected x{PAPER_SCALE} on this machine: {projection(results) / 3600:.1f} h "
              f"(each step extrapolated from its own growth between x{scales[-2]:g} and x{scales[-1]:g})")


def projection(results: list[dict], target: float = PAPER_SCALE) -> float:
    """Seconds of a build at ``target`` scale: each step grown from the two largest measured scales
    with its own exponent (at least linear, so a step that looks flat is not assumed free)."""
    small, large = results[-2], results[-1]
    total = 0.0
    for step, got in large["steps"].items():
        before = small["steps"].get(step, {}).get("seconds", 0.0)
        power = exponent(before, got["seconds"], large["scale"] / small["scale"]) or 1.0
        total += got["seconds"] * (target / large["scale"]) ** max(1.0, power)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 4.0, 16.0])
    parser.add_argument("--epochs", type=int, default=5, help="epochs of every trained asset (-1: their defaults)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between memory samples")
    parser.add_argument("--root", type=Path, default=None, help="folder for the homes (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=Path("scale.json"))
    parser.add_argument("--select", default="*mavp",
                        help="another selection: run those steps again on the homes an earlier run built under --root")
    parser.add_argument("--report", type=Path, nargs="+", default=None,
                        help="print the table of earlier --out files (their scales together) and build nothing")
    args = parser.parse_args()
    if args.report:
        runs = [json.loads(path.read_text(encoding="utf-8")) for path in args.report]
        if len({run["epochs"] for run in runs}) > 1:
            raise SystemExit("the files were built with different --epochs: their ratios would compare unlike runs")
        report(sorted((r for run in runs for r in run["results"]), key=lambda r: r["scale"]))
        return
    root = args.root or Path(tempfile.mkdtemp(prefix="mavp-scale-"))
    epochs = None if args.epochs < 0 else args.epochs
    results = []
    for scale in args.scales:
        home = root / f"x{scale:g}"
        print(f"building x{scale:g} in {home} ...", flush=True)
        if args.select != "*mavp" and not home.is_dir():
            raise SystemExit(f"--select {args.select!r} reruns steps on a built home; {home} is not there")
        results.append(build(home, scale, epochs, args.interval, args.select))
        print(f"  {results[-1]['wall_seconds']} s, peak RSS {results[-1]['peak_rss_gib']} GiB", flush=True)
        args.out.write_text(json.dumps({"epochs": epochs, "results": results}, indent=1), encoding="utf-8")
    report(results)


if __name__ == "__main__":
    main()
