"""`pbs-agent bench`: the rows of `proxmox-backup-client benchmark`, measured on this host."""

from __future__ import annotations

import argparse
import json

from ..bench import LOCAL_TESTS, render_table, run_benchmark
from ..errors import ConfigError

HELP = "measure SHA-256, zstd, AES-256-GCM and verify speed on 4 MiB chunks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help='print {"<test>": {"speed": B/s, "top": B/s}} like PBS')
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="seconds per test (default 1)")
    parser.add_argument("--test", action="append", choices=LOCAL_TESTS, metavar="TEST",
                        help=f"run only this test (repeatable; one of {', '.join(LOCAL_TESTS)})")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.seconds <= 600:
        raise ConfigError(f"--seconds {args.seconds}: must be in (0, 600]")
    results = run_benchmark(args.seconds, args.test or LOCAL_TESTS)
    if args.json:
        print(json.dumps({r.test: r.as_dict() for r in results}, indent=2))
    else:
        print(render_table(results))
    return 0
