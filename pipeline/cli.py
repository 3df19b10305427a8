"""``mavp``: check data before a long run, or write the synthetic sources.

    mavp sample --out DIR [--seed N] [--scale X] [--mepave-scale Y]
    mavp check-source KIND PATH [--json] [--dump OUT.parquet] [--follow-links-outside]

``check-source`` exits 0 when the source has at least one valid record, else 1. It never
prints a traceback: every fault of the data is a counted reject with its reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from pipeline.io import write_parquet
from pipeline.records import ReadResult
from pipeline.sources.registry import SOURCE_KINDS, source


def _print_summary(result: ReadResult) -> None:
    print(f"source:   {result.source}")
    print(f"valid:    {len(result.valid)}")
    print(f"rejected: {len(result.rejects)}")
    for reason, n in result.rejects_by_reason().items():
        print(f"  {reason:<28} {n}")
    for key, value in result.stats.items():
        if isinstance(value, dict):
            print(f"{key}: {sum(value.values())}")
            for k, n in sorted(value.items(), key=lambda kv: -kv[1])[:20]:
                print(f"  {k:<40} {n}")
        elif isinstance(value, list):
            print(f"{key}: {', '.join(map(str, value)) or '(none)'}")
        else:
            print(f"{key}: {value}")


def cmd_check_source(args: argparse.Namespace) -> int:
    spec = source(args.kind)
    result = spec.read(args.path, args.follow_links_outside)
    if args.dump:
        try:
            write_parquet(spec.dump(result) if spec.dump else result.valid, args.dump)
        except OSError as exc:
            print(f"error: cannot write {args.dump}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(result.summary(), ensure_ascii=False, indent=2, default=str))
    else:
        _print_summary(result)
        if args.dump:
            print(f"dumped {len(result.valid)} rows to {args.dump}")
    return 0 if len(result.valid) > 0 else 1


def cmd_sample(args: argparse.Namespace) -> int:
    from pipeline.synth import generate_sample

    start = time.perf_counter()
    manifest = generate_sample(Path(args.out), seed=args.seed, scale=args.scale, mepave_scale=args.mepave_scale)
    seconds = time.perf_counter() - start
    print(json.dumps({"out": str(args.out), "seconds": round(seconds, 2), "counts": manifest["counts"]},
                     ensure_ascii=False, indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mavp", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", help="write the synthetic sources in their real formats")
    sample.add_argument("--out", required=True, help="output directory")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--scale", type=float, default=1.0, help="size knob (1.0 = default sample)")
    sample.add_argument("--mepave-scale", type=float, default=1.0, help="multiplies the MEPAVE part alone")
    sample.set_defaults(func=cmd_sample)
    check = sub.add_parser("check-source", help="read a source; print valid and rejected counts")
    check.add_argument("kind", choices=SOURCE_KINDS)
    check.add_argument("path", help="the source's root directory (or a MEPAVE file)")
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    check.add_argument("--dump", metavar="OUT.parquet", help="write the valid records to parquet")
    check.add_argument("--follow-links-outside", action="store_true",
                       help="read links that leave the source folder (e.g. your own symlinked Images/)")
    check.set_defaults(func=cmd_check_source)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:             # `mavp check-source ... | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())     # no second error at exit
        return 1


if __name__ == "__main__":
    sys.exit(main())
