"""``missing-chunks``: referenced chunks missing or only left as ``.bad`` ("Chunk not found").

Per group, from the dedup engine. A chunk that verify renamed to ``.bad`` is a warning (it
was caught, and the next backup of the group uploads it again); a chunk gone without a
trace is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import PbsAgentError
from .model import Check, DoctorEnv, Verdict

ID = "missing-chunks"


def _state_dir(env: DoctorEnv) -> str | None:
    d = env.settings.state_dir
    return str(d) if os.path.isdir(d) and os.access(d, os.W_OK) else None


def _store(name: str, root: Path, env: DoctorEnv) -> tuple[Verdict, str, str]:
    from ..engine import scan_datastore

    try:
        report = scan_datastore(str(root), state_dir=_state_dir(env), progress=True)
    except PbsAgentError as exc:
        return Verdict.FAIL, f"{name}: cannot scan: {exc}", "check the datastore path and mount"
    broken = [g for g in report.groups if g.missing_chunks or g.bad_chunks]
    if not broken:
        t = report.datastore
        note = f", {len(report.errors)} unreadable files" if report.errors else ""
        verdict = Verdict.WARN if report.errors else Verdict.OK
        return verdict, (f"{name}: all {t.chunks_referenced} referenced chunks present in "
                         f"{t.snapshots} snapshots{note}"), ""
    parts = [f"{g.name}: " + ", ".join(
        f"{n} {what}" for n, what in ((g.missing_chunks, "missing"), (g.bad_chunks, "bad")) if n)
        for g in broken]
    # a chunk left as <digest>.N.bad was caught by verify (bad, not missing); a missing one
    # vanished silently: that is the failure
    vanished = any(g.missing_chunks for g in broken)
    first = broken[0]
    fix = (f"proxmox-backup-manager verify {name}; the next backup of {first.name} re-uploads "
           f"the chunks (snapshots referencing them cannot be restored until then)")
    return (Verdict.FAIL if vanished else Verdict.WARN), f"{name}: " + "; ".join(parts), fix


def _s3_backed(env: DoctorEnv) -> set[str]:
    found = env.datastore_config()
    return set() if isinstance(found, PbsAgentError) else {
        d.name for d in found if d.backend == "s3"}


def check(env: DoctorEnv) -> Check:
    stores = env.datastores()
    if not stores:
        return Check(ID, Verdict.WARN, "no datastore configured", "pass --datastore NAME=PATH")
    verdict, evidence, fix = Verdict.OK, [], ""
    s3 = _s3_backed(env)
    for name, root in stores.items():
        if name in s3:  # the local path is a cache; the chunks are in the bucket
            evidence.append(f"{name}: S3-backed, chunks are in the bucket (not scanned; "
                            f"a verify job reads them)")
            continue
        v, ev, fx = _store(name, Path(root), env)
        verdict = max(verdict, v)
        evidence.append(ev)
        fix = fix or fx
    return Check(ID, verdict, "; ".join(evidence), fix)
