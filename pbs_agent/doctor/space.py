"""``datastore-space``: free space of each datastore's filesystem (``statvfs``).

PBS stops accepting backups when the disk is full ("No space left on device"), and GC needs
room to run; ZFS slows down past 80 % used. Warn above 80 % used, fail above 95 %.
"""

from __future__ import annotations

import os
from pathlib import Path

from .model import Check, DoctorEnv, Verdict

ID = "datastore-space"
WARN_USED, FAIL_USED = 0.80, 0.95
GiB = 1024**3


def usage(path: Path) -> tuple[int, int]:
    """(size, available) in bytes of the filesystem holding *path*."""
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def verdict_for(size: int, avail: int) -> Verdict:
    used = 1 - avail / size if size else 1.0
    if used > FAIL_USED:
        return Verdict.FAIL
    return Verdict.WARN if used > WARN_USED else Verdict.OK


def check(env: DoctorEnv) -> Check:
    stores = env.datastores()
    if not stores:
        return Check(ID, Verdict.WARN, "no datastore configured", "pass --datastore NAME=PATH")
    verdict, parts, fix = Verdict.OK, [], ""
    for name, root in stores.items():
        try:
            size, avail = usage(Path(root))
        except OSError as exc:
            verdict = Verdict.FAIL
            parts.append(f"{name}: {root}: {exc.strerror}")
            continue
        v = verdict_for(size, avail)
        used = 100 * (1 - avail / size) if size else 100.0
        parts.append(f"{name}: {used:.1f}% used, {avail / GiB:.1f} of {size / GiB:.1f} GiB free")
        if v > Verdict.OK and not fix:
            fix = (f"prune old snapshots (prune job on {name}) and run GC "
                   f"(proxmox-backup-manager garbage-collection start {name}), or add disks")
        verdict = max(verdict, v)
    return Check(ID, verdict, f"warn > {WARN_USED:.0%}, fail > {FAIL_USED:.0%} used: "
                 + "; ".join(parts), fix)
