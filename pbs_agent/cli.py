"""`pbs-agent` command line: one subcommand per module, imported only when it runs.

Each command module exposes ``HELP: str``, ``add_arguments(parser)`` and ``run(args) -> int``.
Only the chosen command's module is imported, so a one-shot `pbs-agent metrics` from a
timer does not pay for numpy or the engine when it does not need them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .errors import ConfigError, PbsAgentError, out_of_memory

#: Exit code of a wrong command line (sysexits.h EX_USAGE): distinct from every command's own
#: codes (doctor: 0 ok, 1 warnings, 2 failures; others: 2 error).
EXIT_USAGE = 64

#: name -> (module, one-line help shown by `pbs-agent --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "report": ("pbs_agent.commands.report",
               "dedup report of a datastore: totals, top groups by exclusive bytes (read-only)"),
    "demo": ("pbs_agent.commands.demo", "write a realistic demo datastore in the real PBS format"),
    "serve": ("pbs_agent.commands.serve",
              "run the Prometheus exporter (collectors refresh in the background)"),
    "metrics": ("pbs_agent.commands.metrics",
                "collect once and print the metrics (or write them atomically with --output)"),
    "doctor": ("pbs_agent.commands.doctor",
               "check permissions, chunks, port 8007, ZFS, ECC, AES-NI, ARC, latency and GC"),
    "bench": ("pbs_agent.commands.bench",
              "measure SHA-256, zstd, AES-256-GCM and verify speed on 4 MiB chunks"),
    "estimate": ("pbs_agent.commands.estimate",
                 "estimate PBS's unique, compressed and deduplicated size of images or dirs"),
    "prune-plan": ("pbs_agent.commands.prune_plan",
                   "what the next prune keeps and removes per group (CLI options or the jobs)"),
}


def program_name() -> str:
    """How to run pbs-agent again, as the user just did: ``pbs-agent`` when that name on PATH
    is this program, else the path that was run (``.venv/bin/pbs-agent``), else ``python -m``.
    """
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) != "pbs-agent":
        return f"{_short(sys.executable)} -m pbs_agent"
    found = shutil.which("pbs-agent")
    if found and os.path.realpath(found) == os.path.realpath(argv0):
        return "pbs-agent"
    return _short(argv0)


def _short(path: str) -> str:
    """*path* relative to the working directory when it lies below it, else absolute."""
    full = os.path.abspath(path)
    rel = os.path.relpath(full)
    return rel if not rel.startswith("..") else full


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The first argument naming a command (options before it are global ones)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits with EXIT_USAGE instead of 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the command named in *argv* gets its full argument set."""
    parser = _Parser(
        prog="pbs-agent",
        description="Read-only insight into Proxmox Backup Server datastores.",
    )
    parser.add_argument("--version", action="version", version=f"pbs-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen_command(argv)
    for name, (modname, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            mod = importlib.import_module(modname)
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run,
                           _config_exit=getattr(mod, "CONFIG_ERROR_EXIT", 2))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # numpy's BLAS is never used here: no BLAS thread pool and its buffers (set before any
    # command imports numpy; inherited by the dedup child)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(argv).parse_args(argv)
    except MemoryError:
        print(f"pbs-agent: error: {out_of_memory()}", file=sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except MemoryError:
        print(f"pbs-agent {args.command}: error: {out_of_memory()}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"pbs-agent {args.command}: error: {exc}", file=sys.stderr)
        return int(args._config_exit)
    except PbsAgentError as exc:
        print(f"pbs-agent {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
