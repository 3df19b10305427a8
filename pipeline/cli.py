"""``mavp``: check data before a long run, or write the synthetic sources.

    mavp sample --out DIR [--seed N] [--scale X] [--mepave-scale Y]
    mavp check-source KIND PATH [--json] [--dump OUT.parquet] [--follow-links-outside]
    mavp profile [NAME|FILE] [--check]

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


def cmd_profile(args: argparse.Namespace) -> int:
    """Every setting of a profile (its file's values over the classes' defaults), and with
    ``--check`` its folders and weights files."""
    import dataclasses

    from pipeline.preflight import check_profile
    from pipeline.profiles import ProfileError, load_profile, settings_sections

    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"profile: {profile.name} ({profile.path})")
    print(f"shards: {profile.shards or 'none (one step each)'}")
    for kind, folder in profile.sources.items():
        print(f"sources.{kind}: {folder}")
    for section in settings_sections():
        settings, given = profile.settings_for(section), profile.defaults(section)
        print(f"settings.{section}:")
        for f in dataclasses.fields(settings):
            mark = "*" if f.name in given else " "
            print(f"  {mark} {f.name:<24} {getattr(settings, f.name)!r}")
    print("(* set by the profile file; the rest are the settings classes' defaults)")
    if not args.check:
        return 0
    problems = check_profile(profile, {k: Path(v) for k, v in profile.sources.items()})
    for problem in problems:
        print(f"problem: {problem}")
    print("check: " + (f"{len(problems)} problem(s)" if problems else "every folder and weights file is fine"))
    return 1 if problems else 0


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
    prof = sub.add_parser("profile", help="print every setting of a profile; --check its folders and weights")
    prof.add_argument("profile", nargs="?", default=os.environ.get("MAVP_PROFILE") or "sample",
                      help="sample, paper or the path of a profile file (default: $MAVP_PROFILE or sample)")
    prof.add_argument("--check", action="store_true", help="check every folder and weights file the profile names")
    prof.set_defaults(func=cmd_profile)
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
