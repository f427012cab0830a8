"""`pbs-agent demo PATH`: write a realistic demo datastore (the embedded default)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from ..cli import program_name
from ..demo import DEMO_MARKER, DEMO_START, build_demo, recent_start
from ..errors import ConfigError
from ..units import human_bytes

HELP = "write a realistic demo datastore in the real PBS format"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="directory to create (absent or empty)")
    parser.add_argument("--vms", type=int, default=3, help="VM groups (fixed chunks)")
    parser.add_argument("--cts", type=int, default=2, help="container groups (dynamic chunks)")
    parser.add_argument("--days", type=int, default=7, help="daily snapshots per group")
    parser.add_argument("--change-rate", type=float, default=0.1,
                        help="share of chunks changed per day (0..1, default 0.1)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")
    parser.add_argument("--garbage", type=int, default=0, help="unreferenced chunk files to add")
    parser.add_argument("--missing", type=int, default=0, help="referenced chunks to delete")
    parser.add_argument("--bad", type=int, default=0, help="referenced chunks to mark .bad")
    parser.add_argument("--no-namespaces", action="store_true",
                        help="put every group in the root namespace")
    parser.add_argument("--recent", action="store_true",
                        help="the newest snapshots are today's (default: June 2024, always "
                             "the same names)")
    parser.add_argument("--force", action="store_true",
                        help="replace PATH if it is a demo datastore written by pbs-agent")


def remove_previous_demo(path: str) -> None:
    """Delete *path* only if pbs-agent wrote it (marker file present); refuse otherwise."""
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        if not os.listdir(path):
            return
        if os.path.isfile(os.path.join(path, DEMO_MARKER)):
            shutil.rmtree(path)
            return
    raise ConfigError(f"{path}: exists and is not a demo datastore written by pbs-agent "
                      f"(no {DEMO_MARKER}); refusing to replace it")


def run(args: argparse.Namespace) -> int:
    if args.force:
        remove_previous_demo(args.path)
    elif os.path.isdir(args.path) and os.listdir(args.path):
        if os.path.isfile(os.path.join(args.path, DEMO_MARKER)):
            raise ConfigError(f"{args.path}: exists and is not an empty directory (a demo "
                              f"datastore of pbs-agent): add --force to replace it")
        raise ConfigError(f"{args.path}: exists and is not an empty directory: pick an "
                          f"absent or empty one")
    start = recent_start(args.days) if args.recent else DEMO_START
    summary = build_demo(
        args.path, vms=args.vms, cts=args.cts, days=args.days, change_rate=args.change_rate,
        seed=args.seed, garbage=args.garbage, missing=args.missing, bad=args.bad,
        namespaces=not args.no_namespaces, progress=sys.stderr.isatty(), start=start,
    )
    damage = []
    if summary["missing"]:
        damage.append(f"{summary['missing']} referenced chunks deleted")
    if summary["bad"]:
        damage.append(f"{summary['bad']} renamed to .bad")
    print(f"demo datastore {summary['path']}: {summary['groups']} groups, "
          f"{summary['snapshots']} snapshots, {human_bytes(summary['logical_bytes'])} logical; "
          f"{summary['chunk_files']} chunk files ({summary['garbage']} unreferenced)"
          + "".join(f", {d}" for d in damage) + f" ({summary['seconds']} s)")
    print(f"next: {program_name()} report {args.path}")
    return 0
