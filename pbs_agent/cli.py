"""`pbs-agent` command line: one subcommand per module, imported only when it runs.

Each command module exposes ``HELP: str``, ``add_arguments(parser)`` and ``run(args) -> int``.
Only the chosen command's module is imported, so a one-shot `pbs-agent metrics` from a
timer does not pay for numpy or the engine when it does not need them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .errors import PbsAgentError

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


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The first argument naming a command (options before it are global ones)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the command named in *argv* gets its full argument set."""
    parser = argparse.ArgumentParser(
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
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except PbsAgentError as exc:
        print(f"pbs-agent {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
