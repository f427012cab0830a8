"""Upgrade preflight: the survey → one line per failed precondition (pure, no I/O).

    >>> refusals({"debian": "12", "pbs": "3.4.1", "pbs3to4": "ran", "pbs3to4_failures": "0",
    ...           "backup_age": "60", "active_tasks": "0", "root_free": str(20 << 30),
    ...           "source_bookworm": ["/etc/apt/sources.list.d/debian.sources"]},
    ...          max_backup_age=86400, min_free=10 << 30)
    []
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: pbs3to4's minimum (proxmox-upgrade-checks via src/bin/pbs3to4.rs, PBS 4.2.3).
MIN_PBS = (3, 4)
GIB = 1 << 30


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split(".") if p)
    except ValueError:
        return ()


def refusals(s: Mapping[str, Any], max_backup_age: int, min_free: int) -> list[str]:
    """Every failed precondition, one line each (empty: the upgrade may start)."""
    out = []
    if s.get("debian") != "12":
        out.append(f"Debian {s.get('debian') or '?'} is not Debian 12: nothing to upgrade "
                   "from here")
    version = _version(str(s.get("pbs", "")))
    if not version:
        out.append("PBS is not installed (proxmox-backup-manager versions printed no version)")
    elif version[0] != 3:
        out.append(f"PBS {s['pbs']} is not PBS 3: this deploy upgrades 3 to 4 only")
    elif version[:2] < MIN_PBS:
        out.append(f"PBS {s['pbs']} is older than 3.4: apt full-upgrade on bookworm first "
                   "(pbs3to4 requires >= 3.4.0)")
    if s.get("pbs3to4") != "ran":
        out.append("pbs3to4 not found: install the latest PBS 3.4 (it ships the checker)")
    elif s.get("pbs3to4_failures", "0") not in ("", "0"):
        first = (s.get("pbs3to4_fail") or ["see its output"])[0]
        out.append(f"pbs3to4 reports {s['pbs3to4_failures']} failure(s), first: {first}")
    age = s.get("backup_age")
    if age is None or not str(age).isdigit():
        out.append("no PBS config backup found: run systemctl start pbs-config-backup.service")
    elif int(age) > max_backup_age:
        out.append(f"newest PBS config backup is {int(age) // 3600} h old (limit "
                   f"{max_backup_age // 3600} h): run systemctl start pbs-config-backup.service")
    tasks = int(s.get("active_tasks") or 0)
    if tasks:
        out.append(f"{tasks} PBS task(s) running: wait for them (proxmox-backup-manager task "
                   "list) and retry")
    free = int(s.get("root_free") or 0)
    if free < min_free:
        out.append(f"{free / GIB:.1f} GiB free on / (need {min_free / GIB:.0f} GiB)")
    for pool in s.get("pool_bad", []):
        out.append(f"ZFS pool {pool}: not ONLINE (zpool status -x)")
    if s.get("source_trixie"):
        out.append(f"apt sources already name trixie ({', '.join(s['source_trixie'])}): "
                   "mixed suites, fix by hand before upgrading")
    if not s.get("source_bookworm"):
        out.append("no apt source names bookworm: nothing to switch")
    return out
