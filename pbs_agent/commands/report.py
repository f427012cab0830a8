"""`pbs-agent report PATH`: what deduplication really saves, per datastore and per group."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..engine import DatastoreReport, scan_datastore
from ..errors import SourceError, os_reason
from ..host import add_options, resolve
from ..state import DEFAULT_STATE_DIR
from ..units import human_bytes
from .prune_plan import CONFIG_DIR

HELP = "dedup report of a datastore: totals, top groups by exclusive bytes (read-only)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="datastore directory")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--state-dir", metavar="DIR", default=DEFAULT_STATE_DIR,
                        help=f"incremental state directory (default {DEFAULT_STATE_DIR})")
    parser.add_argument("--top", metavar="N", type=int, default=10,
                        help="groups to list in the human summary (default 10)")
    parser.add_argument("--html", metavar="FILE",
                        help="also write the report as one self-contained HTML page (charts)")
    add_options(parser, [CONFIG_DIR])


def _when(epoch: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch)) if epoch is not None else "-"


def _forecast_lines(rep: DatastoreReport) -> list[str]:
    """What the next GC frees and what stays pending until when (none for S3 stores)."""
    d = rep.datastore
    if d.garbage_reclaimable_bytes is None:
        return []
    pending = (f"{human_bytes(d.garbage_pending_bytes or 0)} pending until "
               f"{_when(d.garbage_pending_until)} UTC" if d.garbage_pending_bytes else
               "nothing pending")
    return [f"  next GC frees   {human_bytes(d.garbage_reclaimable_bytes)}; {pending}",
            *_gc_check_lines(rep)]


def _gc_check_lines(rep: DatastoreReport) -> list[str]:
    """PBS's pending figures of its last GC beside the recount from today's atimes."""
    c = rep.gc_check
    if c is None:
        return []
    same = "agrees" if c.pending_chunks == c.pbs_pending_chunks else (
        "differs: chunks re-used since, a writer during that GC, or atimes not kept")
    return [f"  last GC         {_when(c.start)} UTC kept {c.pbs_pending_chunks} chunks pending "
            f"(.gc-status); recount from atimes {c.pending_chunks} ({same})"]


def render(rep: DatastoreReport, top: int) -> str:
    """The human summary: totals, then the *top* groups by exclusive bytes, then errors."""
    d = rep.datastore
    factor = f"{d.dedup_factor:.2f}" if d.dedup_factor is not None else "n/a"
    lines = [
        f"Datastore {d.path}",
        f"  snapshots       {d.snapshots} in {len(rep.groups)} groups, "
        f"{d.index_files} index files",
        f"  logical data    {human_bytes(d.logical_bytes)}",
        f"  referenced      {d.chunks_referenced} chunks, {human_bytes(d.physical_bytes)} on "
        f"disk (dedup factor {factor}), {d.missing_chunks} of them missing",
        f"  chunk files     {d.chunks_on_disk} in .chunks, {d.garbage_chunks} of them garbage "
        f"({human_bytes(d.garbage_bytes)}); {d.bad_chunks} marked bad "
        f"(.bad file{'' if d.bad_chunks == 1 else 's'})",
        *_forecast_lines(rep),
        "",
    ]
    shown = rep.groups[: max(top, 0)]
    if shown:
        lines.append(f"Top {len(shown)} groups by exclusive bytes (what deleting them frees):")
        head = ("GROUP", "SNAPS", "LAST BACKUP", "RESTORABLE", "REFERENCED", "EXCLUSIVE",
                "LAST NEW", "VERIFY")
        rows = [head] + [(
            g.name, str(g.snapshots), _when(g.last_backup_time), _when(g.last_restorable_time),
            human_bytes(g.referenced_bytes), human_bytes(g.exclusive_bytes),
            human_bytes(g.last_new_bytes), g.last_verify_state,
        ) for g in shown]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        for r in rows:
            cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:],
                                                                          strict=True)]
            lines.append("  " + "  ".join(cells))
    if rep.errors:
        lines += ["", f"Problems ({len(rep.errors)}):"]
        lines += ["  {path}: {reason}".format(**e.as_dict()) for e in rep.errors[:20]]
        if len(rep.errors) > 20:
            lines.append(f"  ... {len(rep.errors) - 20} more (see --json)")
    return "\n".join(lines)


def retention(path: str, config_dir: Path) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """Per group the next prune's plan under the datastore's prune jobs (``prune-plan``), or
    None and why not when no job is known."""
    from ..datastore import walk_datastore
    from ..host import Settings, read_prune_jobs, resolve_datastores
    from ..retention import jobs_for, plan_group

    hint = "`pbs-agent prune-plan PATH --keep-daily N …` previews a policy"
    try:
        stores = resolve_datastores(Settings(config_dir=config_dir))
        jobs, _bad = read_prune_jobs(config_dir)
    except SourceError as exc:
        return None, f"Retention unknown, no PBS configuration read ({exc}); {hint}."
    real = os.path.realpath(path)
    store = next((ds.name for ds in stores if os.path.realpath(ds.path) == real), None)
    if store is None:
        return None, (f"Retention unknown: no datastore in {config_dir / 'datastore.cfg'} has "
                      f"path {real}; {hint}.")
    if not [j for j in jobs if j.store == store]:
        return None, (f"No prune job for datastore {store} in {config_dir}: every snapshot "
                      f"stays; {hint}.")
    plans = {}
    for g in walk_datastore(path).groups:
        if jobs_for(g.namespace, store, jobs):
            p = plan_group(g, jobs=jobs, store=store)
            plans[p.name] = p.as_dict()
    return plans, f"Next prune: the prune jobs of datastore {store} ({config_dir / 'prune.cfg'})."


def write_html(path: str, text: str) -> None:
    """Write *text* to *path* atomically (a reader never sees half a page)."""
    target = os.path.abspath(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pbs-agent-report-", dir=os.path.dirname(target))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        raise SourceError(target, f"cannot write the HTML report: {os_reason(exc)}") from None


def run(args: argparse.Namespace) -> int:
    rep = scan_datastore(args.path, state_dir=args.state_dir, progress=sys.stderr.isatty())
    if args.html:
        from ..htmlreport import render_html

        plans, note = retention(rep.datastore.path, resolve(args, CONFIG_DIR))
        write_html(args.html, render_html(rep.as_dict(), plans, note))
    if args.json:
        json.dump(rep.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render(rep, args.top))
        if args.html:
            print(f"\nHTML report: {os.path.abspath(args.html)}")
    return 0

