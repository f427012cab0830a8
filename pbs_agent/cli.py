"""`pbs-agent` command line: one subcommand per module, imported only when used.

Each command module exposes ``HELP: str``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .errors import PbsAgentError

COMMANDS: dict[str, str] = {
    "report": "pbs_agent.commands.report",
    "demo": "pbs_agent.commands.demo",
    "serve": "pbs_agent.commands.serve",
    "metrics": "pbs_agent.commands.metrics",
    "doctor": "pbs_agent.commands.doctor",
    "bench": "pbs_agent.commands.bench",
    "estimate": "pbs_agent.commands.estimate",
}


def _available() -> dict[str, object]:
    mods = {}
    for name, modname in COMMANDS.items():
        try:
            mods[name] = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:  # a real import error inside the module: show it
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pbs-agent",
        description="Read-only insight into Proxmox Backup Server datastores.",
    )
    parser.add_argument("--version", action="version", version=f"pbs-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, mod in _available().items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)  # type: ignore[attr-defined]
        mod.add_arguments(p)  # type: ignore[attr-defined]
        p.set_defaults(_run=mod.run)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
