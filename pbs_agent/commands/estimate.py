"""`pbs-agent estimate PATH…`: what PBS would store for these images or directories."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import ConfigError
from ..estimate import EstimateReport, estimate

HELP = "estimate PBS's unique, compressed and deduplicated size of images or directories"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="image file or block device (fixed 4 MiB chunks), or directory "
                             "(dynamic chunks); later inputs are counted after earlier ones")
    parser.add_argument("--against", metavar="DATASTORE",
                        help="datastore path: chunks it already references cost nothing")
    parser.add_argument("--state-dir", help="engine cache directory for --against")
    parser.add_argument("--jobs", type=int, default=0,
                        help="worker threads (default: all usable cores)")
    parser.add_argument("--no-compress", action="store_true",
                        help="skip zstd sizes (digests and dedup only)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def human(n: float | None) -> str:
    """Binary units like PBS's HumanByte: '1.5 GiB', '4 MiB'."""
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{round(n, 3):g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


def _factor(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def render(report: EstimateReport) -> str:
    """The human summary: one line per input (its incremental cost), then the totals."""
    d = report.as_dict()
    lines = []
    for i in d["inputs"]:
        lines.append(f"{i['path']} ({i['kind']}): {human(i['logical_bytes'])} in "
                     f"{i['chunks']} chunks, adds {human(i['new_bytes'])} new "
                     f"({i['new_chunks']} chunks, {human(i['new_compressed_bytes'])} stored)")
    lines += [
        f"Logical bytes:      {human(d['logical_bytes'])} ({d['chunks']} chunks)",
        f"Unique bytes:       {human(d['unique_bytes'])} ({d['unique_chunks']} chunks)",
        f"Compressed bytes:   {human(d['compressed_bytes'])}",
        f"Dedup factor:       {_factor(d['dedup_factor'])}",
        f"Compression factor: {_factor(d['compression_factor'])}",
    ]
    if d["against"]:
        lines.append(f"Already in {d['against']}: {human(d['known_bytes'])} "
                     f"({d['known_chunks']} chunks)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.jobs < 0:
        raise ConfigError(f"--jobs {args.jobs}: must be >= 0")
    report = estimate(args.paths, against=args.against, state_dir=args.state_dir,
                      jobs=args.jobs or None, compress=not args.no_compress)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    elif report.inputs:
        print(render(report))
    for err in report.errors:
        print(f"pbs-agent estimate: {err.path}: {err.reason}", file=sys.stderr)
    if not report.inputs:
        print("pbs-agent estimate: nothing readable, no estimate", file=sys.stderr)
        return 2
    if report.errors:
        return 1
    return 0
