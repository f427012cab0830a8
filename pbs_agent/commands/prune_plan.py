"""`pbs-agent prune-plan PATH`: what the next prune keeps and removes, per group, and why.

With ``--keep-*`` options, that policy is applied to every selected group (as
``proxmox-backup-client prune --dry-run`` would); without them, the datastore's prune jobs
from ``<config-dir>/prune.cfg`` (the datastore is found in ``datastore.cfg`` by its path, or
named with ``--store``). Slots use this host's local time zone, as PBS does: set ``TZ`` to
plan for a server in another zone. Read-only: only directory names are looked at.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ..assurance.prune import RULES, KeepOptions
from ..datastore import Group, walk_datastore
from ..errors import ConfigError, SourceError
from ..formats import BACKUP_TYPES
from ..host import (
    SOURCE_OPTIONS,
    PruneJob,
    Settings,
    add_options,
    read_prune_jobs,
    resolve,
    resolve_datastores,
)
from ..retention import GroupPlan, describe_rule, jobs_for, plan_group

HELP = "what the next prune keeps and removes per group (CLI options or the jobs)"
CONFIG_DIR = next(o for o in SOURCE_OPTIONS if o.key == "pbs.config-dir")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="datastore directory")
    for rule in RULES:
        parser.add_argument(f"--{rule}", metavar="N", type=int, dest=rule.replace("-", "_"),
                            help=f"{rule.replace('-', ' ')} (as prune; any given: ignore jobs)")
    parser.add_argument("--ns", metavar="NS", help="only groups in this namespace (root: '')")
    parser.add_argument("--group", metavar="TYPE/ID", help="only this group, e.g. vm/100")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    add_options(parser, [CONFIG_DIR])
    parser.add_argument("--store", metavar="NAME",
                        help="datastore name of PATH in prune.cfg (default: from datastore.cfg)")


def cli_options(args: argparse.Namespace) -> KeepOptions | None:
    """The ``--keep-*`` options given, or None when none was (then the jobs apply)."""
    given = {r: getattr(args, r.replace("-", "_")) for r in RULES}
    if all(v is None for v in given.values()):
        return None
    for rule, v in given.items():
        if v is not None and v < 0:
            raise ConfigError(f"--{rule} {v}: must be >= 0")
    return KeepOptions(**{r.removeprefix("keep-"): v for r, v in given.items()})


def _group_filter(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    btype, sep, bid = text.partition("/")
    if not sep or btype not in BACKUP_TYPES or not bid:
        raise ConfigError(f"--group {text!r}: expected TYPE/ID with TYPE one of "
                          f"{', '.join(BACKUP_TYPES)}")
    return btype, bid


def store_name(path: str, config_dir: Path) -> str:
    """The datastore whose configured path is *path*; ConfigError saying what to pass."""
    real = os.path.realpath(path)
    try:
        stores = resolve_datastores(Settings(config_dir=config_dir))
    except SourceError as exc:
        raise ConfigError(f"{exc}; pass --store NAME or --keep-* options") from None
    for ds in stores:
        if os.path.realpath(ds.path) == real:
            return ds.name
    raise ConfigError(f"no datastore in {config_dir / 'datastore.cfg'} has path {real}; "
                      f"pass --store NAME or --keep-* options")


def _selected(groups: list[Group], ns: str | None, group: tuple[str, str] | None) -> list[Group]:
    out = [g for g in groups if (ns is None or g.namespace == ns.strip("/"))
           and (group is None or (g.backup_type, g.backup_id) == group)]
    return sorted(out, key=lambda g: g.key)


def _when(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def render(plans: list[GroupPlan], header: list[str], errors: list[dict[str, str]],
           by_options: bool) -> str:
    """The human plan: header, then per group the kept snapshots with their rule."""
    lines = [*header, ""]
    for p in plans:
        by = "options" if by_options else f"job {', '.join(p.jobs)}" if p.jobs else "no job"
        lines.append(f"{p.name}: keep {len(p.kept)}, remove {len(p.removed)} ({by})")
        lines += [f"  keep    {_when(d.snapshot.time)}  {describe_rule(d)}" for d in p.kept]
        if p.removed:
            times = [d.snapshot.time for d in p.removed]
            lines.append(f"  remove  {len(times)}: {_when(min(times))} .. {_when(max(times))}")
        short = {r: n for r, n in p.shortfall.items() if n}
        if short:
            lines.append("  short   " + ", ".join(f"{r} by {n}" for r, n in short.items()))
    if errors:
        lines += ["", f"Problems ({len(errors)}):"]
        lines += [f"  {e['path']}: {e['reason']}" for e in errors[:20]]
    return "\n".join(lines)


def build(args: argparse.Namespace) -> tuple[list[GroupPlan], list[str], list[dict[str, str]]]:
    """The plans of the selected groups, the header lines and the problems met."""
    options = cli_options(args)
    group = _group_filter(args.group)
    jobs: list[PruneJob] = []
    store = args.store or ""
    header: list[str] = []
    errors: list[dict[str, str]] = []
    if options is None:
        config = resolve(args, CONFIG_DIR)
        store = store or store_name(args.path, config)
        jobs, bad = read_prune_jobs(config)
        errors += [{"path": str(config / "prune.cfg"), "reason": str(e)} for e in bad]
        header.append(f"Datastore {args.path} (store {store}): prune jobs of {config}")
        mine = [j for j in jobs if j.store == store]
        for j in mine:
            state = " (disabled: skipped)" if j.disable else "" if j.keep.keeps_something() \
                else " (keeps everything: skipped)"
            header.append(f"  job {j.id}: {j.keep}; {j.where()}{state}")
        if not mine:
            header.append("  no prune job for this datastore: nothing is pruned")
    else:
        header.append(f"Datastore {args.path}: options {options}")
    if not os.path.isdir(args.path):
        raise SourceError(args.path, "not a datastore directory")
    walk = walk_datastore(args.path)
    errors += [i.as_dict() for i in walk.issues]
    plans = [plan_group(g, options=options, jobs=jobs, store=store)
             for g in _selected(walk.groups, args.ns, group)]
    if options is None:
        for ns in sorted({p.namespace for p in plans}):
            ids = [j.id for j in jobs_for(ns, store, jobs)]
            label = f"'{ns}'" if ns else "root"
            header.append(f"  namespace {label}: {', '.join(ids) if ids else 'no job (kept)'}")
    return plans, header, errors


def run(args: argparse.Namespace) -> int:
    plans, header, errors = build(args)
    if args.json:
        json.dump({"groups": [p.as_dict() for p in plans], "errors": errors}, sys.stdout,
                  indent=1)
        sys.stdout.write("\n")
    else:
        print(render(plans, header, errors, cli_options(args) is not None))
    return 0
