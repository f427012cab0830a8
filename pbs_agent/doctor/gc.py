"""``gc-health``: last garbage collection age and result, and the atime cutoff safety.

Sources per datastore: the job state ``<lib-dir>/jobstates/garbage_collection-<store>.json``,
the task archive ``<log-dir>/tasks/archive`` (newest GC task of the store, with its status
text), and ``<datastore>/.gc-status`` (the UPID of the last completed run). Atime safety: GC
marks chunks in use by updating their atime and deletes chunks whose atime is older than the
cutoff (24h5m; PBS 3.4+/4 tuning ``gc-atime-cutoff`` in minutes). A datastore mounted
``noatime`` never gets atimes updated, so GC would delete live chunks: fail. ``relatime``
updates atime at most once per 24 h: fine with the default cutoff, a warning with a cutoff
under 24 h. Mount options come from ``<procfs>/1/mountinfo`` (else ``self``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..assurance.reclaim import DEFAULT_CUTOFF_MIN
from ..errors import PbsAgentError
from ..host import gc_atime_cutoffs
from ..hw.mounts import read_mountinfo
from ..tasks.jobstate import parse_job_state
from ..tasks.tasklog import parse_archive_line, parse_upid
from .model import Check, DoctorEnv, Verdict

ID = "gc-health"
RELATIME_MIN = 24 * 60


@dataclass(frozen=True)
class LastGc:
    when: float  # end time (or start time when only that is known)
    ok: bool | None  # None: running or result unknown
    source: str
    message: str = ""


def _from_jobstate(env: DoctorEnv, store: str) -> LastGc | None:
    path = env.settings.lib_dir / "jobstates" / f"garbage_collection-{store}.json"
    text = env.read(path)
    if text is None:
        return None
    try:
        js = parse_job_state(text, "garbage_collection", store, str(path))
    except PbsAgentError:
        return None
    if js.last_run is None:
        return None
    ok = None if js.success is None else bool(js.success)
    return LastGc(js.last_run, ok, "jobstate" + (" (running)" if js.state == "started" else ""))


def _from_archive(env: DoctorEnv, store: str) -> LastGc | None:
    best = None
    for name in ("archive.1", "archive"):
        for line in (env.read(env.settings.log_dir / "tasks" / name) or "").splitlines():
            try:
                a = parse_archive_line(line)
            except PbsAgentError:
                continue
            if a.upid.worker_type == "garbage_collection" and a.upid.worker_id == store and \
                    (best is None or a.endtime >= best.when):
                best = LastGc(a.endtime, a.status != "error", "task archive", a.message)
    return best


def _from_gc_status(root: Path) -> LastGc | None:
    try:
        upid = json.loads((root / ".gc-status").read_text()).get("upid")
        return LastGc(parse_upid(upid).starttime, True, ".gc-status") if upid else None
    except (OSError, ValueError, AttributeError, PbsAgentError):
        return None


def last_gc(env: DoctorEnv, store: str, root: Path) -> LastGc | None:
    found = [x for x in (_from_archive(env, store), _from_jobstate(env, store),
                         _from_gc_status(root)) if x is not None]
    return max(found, key=lambda x: x.when) if found else None


def atime_cutoff(env: DoctorEnv, store: str) -> int:
    """The store's ``gc-atime-cutoff`` in minutes, else PBS's default."""
    return gc_atime_cutoffs(env.settings.config_dir).get(store, DEFAULT_CUTOFF_MIN)


def mount_options(env: DoctorEnv, path: Path) -> tuple[str, set[str]] | None:
    """(mount point, per-mount options) of the filesystem holding *path*."""
    try:
        text = read_mountinfo(env.settings.procfs)
    except PbsAgentError:
        return None
    target = os.path.normpath(str(path))
    best: tuple[str, set[str]] | None = None
    for line in text.splitlines():
        f = line.split()
        if len(f) < 6:
            continue
        mp = f[4].replace("\\040", " ")
        inside = target == mp or mp == "/" or target.startswith(mp.rstrip("/") + "/")
        if inside and (best is None or len(mp) >= len(best[0])):
            best = (mp, set(f[5].split(",")))
    return best


def _atime(env: DoctorEnv, store: str, root: Path) -> tuple[Verdict, str, str]:
    cutoff = atime_cutoff(env, store)
    mount = mount_options(env, root)
    if mount is None:
        return Verdict.WARN, "mount options unknown (mountinfo unreadable)", ""
    mp, opts = mount
    if "noatime" in opts:
        return (Verdict.FAIL, f"{mp} mounted noatime: GC cannot mark chunks, it would delete "
                f"live ones", f"mount {mp} with relatime (ZFS: zfs set atime=on relatime=on "
                f"<dataset>), then run GC")
    mode = "relatime" if "relatime" in opts else "strictatime"
    text = f"{mp} {mode}, cutoff {cutoff} min"
    if mode == "relatime" and cutoff < RELATIME_MIN:
        return (Verdict.WARN, text + " (< 24 h with relatime)",
                f"proxmox-backup-manager datastore update {store} --tuning "
                f"'gc-atime-cutoff={DEFAULT_CUTOFF_MIN}'")
    return Verdict.OK, text, ""


def _age(env: DoctorEnv, store: str, root: Path) -> tuple[Verdict, str, str]:
    gc = last_gc(env, store, root)
    start = f"proxmox-backup-manager garbage-collection start {store}"
    if gc is None:
        return Verdict.WARN, "no garbage collection recorded", \
            f"{start}; set a gc-schedule (datastore update {store} --gc-schedule daily)"
    days = (env.now - gc.when) / 86400
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(gc.when))
    text = f"last GC {when} UTC ({days:.1f} days ago, {gc.source})"
    if gc.ok is False:
        return Verdict.FAIL, f"{text} failed: {gc.message or 'error'}", \
            f"read the GC task log (proxmox-backup-manager task list), fix it, then {start}"
    if days > env.gc_max_age_days:
        return Verdict.WARN, f"{text}, older than {env.gc_max_age_days:g} days", \
            f"{start}; check gc-schedule"
    return Verdict.OK, text + (" ok" if gc.ok else ""), ""


def check(env: DoctorEnv) -> Check:
    stores = env.datastores()
    if not stores:
        return Check(ID, Verdict.WARN, "no datastore configured", "pass --datastore NAME=PATH")
    verdict, parts, fix = Verdict.OK, [], ""
    for name, root in stores.items():
        v1, e1, f1 = _age(env, name, Path(root))
        v2, e2, f2 = _atime(env, name, Path(root))
        verdict = max(verdict, v1, v2)
        parts.append(f"{name}: {e1}; {e2}")
        fix = fix or (f2 if v2 >= v1 else f1) or f1 or f2
    return Check(ID, verdict, "; ".join(parts), fix)
