"""``pbs-agent metrics``: collect once, print the exposition or write it atomically.

With ``--output FILE`` the text goes to ``FILE`` via a temporary file and a rename, as
node_exporter's textfile collector expects (point it at ``*.prom`` in its directory).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ..errors import SourceError, os_reason
from ..exporter.options import add_collector_arguments, enabled_collectors
from ..exporter.registry import create_collectors
from ..exporter.runner import Runner
from ..host import add_source_arguments, settings_from_args

HELP = "collect once and print the metrics (or write them atomically with --output)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    add_collector_arguments(parser)
    parser.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help="write to FILE atomically (textfile collector) instead of stdout")


def write_atomic(path: Path, data: bytes) -> None:
    """Write *data* to *path* through a temporary file in the same directory and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SourceError(str(path), os_reason(exc)) from None


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="pbs-agent metrics: %(levelname)s %(name)s: %(message)s")
    runner = Runner(create_collectors(enabled_collectors(args)), settings_from_args(args))
    runner.run_all()
    text = runner.exposition()
    if args.output is None:
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
    else:
        write_atomic(args.output, text)
    return 0
