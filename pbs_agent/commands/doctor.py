"""`pbs-agent doctor`: check a PBS host for the known fault lines.

Exit 0 all ok, 1 warnings, 2 failures; 64 (EX_USAGE) for a wrong command line or setting.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from pathlib import Path

from ..cli import EXIT_USAGE
from ..doctor import CHECKS, Check, DoctorEnv, Endpoint, Verdict, run_checks, worst
from ..host import add_source_arguments, settings_from_args

HELP = ("check permissions, chunks, port 8007, ZFS, ECC, AES-NI, ARC, latency, GC health and "
        "who prunes each namespace")
#: a bad option value (e.g. --datastore without NAME=PATH) must not read as "checks failed"
CONFIG_ERROR_EXIT = EXIT_USAGE
_COLORS = {Verdict.OK: "\x1b[32m", Verdict.WARN: "\x1b[33m", Verdict.FAIL: "\x1b[31m"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help='print {"checks": [{"id", "verdict", "evidence", "fix"}]}')
    parser.add_argument("--check", action="append", choices=list(CHECKS), metavar="ID",
                        help="run only this check (repeatable)")
    parser.add_argument("--pve-host", action="append", default=[], metavar="HOST[:PORT]",
                        help="a PVE host backing up here (latency, firewall); port default 8006")
    parser.add_argument("--source", action="append", default=[], metavar="ADDRESS",
                        help="another backup client address the firewall must let in")
    parser.add_argument("--proxy-port", type=int, default=8007,
                        help="port of proxmox-backup-proxy (default 8007)")
    parser.add_argument("--path.modules", dest="modules_dir", type=Path,
                        default=Path("/lib/modules"), help="kernel modules dir (headers check)")
    parser.add_argument("--latency-warn-ms", type=float, default=10.0,
                        help="warn above this TCP connect time to a PVE host (default 10)")
    parser.add_argument("--gc-max-age-days", type=float, default=8.0,
                        help="warn when the last GC is older (default 8)")
    parser.add_argument("--pve.config-dir", dest="pve_config_dir", type=Path,
                        default=Path("/etc/pve"),
                        help="PVE config (storage.cfg, jobs.cfg) whose prune settings are "
                             "compared with the prune jobs (default /etc/pve)")
    add_source_arguments(parser)


def build_env(args: argparse.Namespace) -> DoctorEnv:
    return DoctorEnv(
        settings=settings_from_args(args),
        pve_hosts=[Endpoint.parse(h, 8006) for h in args.pve_host],
        sources=list(args.source), proxy_port=args.proxy_port, modules_dir=args.modules_dir,
        latency_warn_ms=args.latency_warn_ms, gc_max_age_days=args.gc_max_age_days,
        pve_config_dir=args.pve_config_dir,
    )


def render_table(checks: list[Check], color: bool, width: int = 120) -> str:
    """Aligned columns: verdict, id, evidence (wrapped between words, never inside a path),
    then the fix command on one line of its own."""
    idw = max(len(c.id) for c in checks) if checks else 2
    text_w = max(40, width - idw - 11)
    lines = [f"{'VERDICT':<7}  {'CHECK':<{idw}}  EVIDENCE / FIX"]
    for c in checks:
        label = f"{c.verdict.label:<7}"
        if color:
            label = f"{_COLORS[c.verdict]}{label}\x1b[0m"
        body = textwrap.wrap(c.evidence, text_w, break_long_words=False,
                             break_on_hyphens=False) or [""]
        if c.fix:  # a command to copy: one line, never wrapped (the terminal may fold it)
            body.append("fix: " + c.fix)
        pad = " " * (11 + idw)
        lines.append(f"{label}  {c.id:<{idw}}  {body[0]}")
        lines += [pad + b for b in body[1:]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    checks = run_checks(build_env(args), args.check)
    if args.json:
        print(json.dumps({"checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        tty = sys.stdout.isatty()
        width = shutil.get_terminal_size((120, 24)).columns if tty else 120
        print(render_table(checks, color=tty, width=width))
    return int(worst([c.verdict for c in checks]))
