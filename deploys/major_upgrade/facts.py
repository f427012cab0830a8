"""What the upgrade preflight needs to know of a host, read in one shell round trip."""

from __future__ import annotations

import shlex
from typing import Any

from pyinfra.api import FactBase

#: Files apt reads its sources from (one-line ``.list`` and deb822 ``.sources``).
SOURCES = "/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources"
ACTIVE_TASKS = "/var/log/proxmox-backup/tasks/active"
ANSI = r"s/\x1b\[[0-9;]*[A-Za-z]//g"


class UpgradeSurvey(FactBase[dict[str, Any]]):
    """``key=value`` lines: Debian major, PBS version, ``pbs3to4``'s summary (ANSI stripped:
    the checker forces colour), the newest config backup's age, running tasks, free bytes on
    ``/``, ZFS pools not ONLINE, the apt source files naming bookworm / trixie.

    + backup_dir: where ``pbs-config-backup`` writes its archives

    **Example:**

    .. code:: python

        host.get_fact(UpgradeSurvey, backup_dir="/var/backups/pbs-config")
        # {"debian": "12", "pbs": "3.4.1", "pbs3to4_failures": "0", "backup_age": "120", …}
    """

    @staticmethod
    def default() -> dict[str, Any]:
        return {}

    def command(self, backup_dir: str) -> str:
        d = shlex.quote(backup_dir)
        return "; ".join([
            "echo debian=$(cut -d. -f1 /etc/debian_version 2>/dev/null)",
            "echo pbs=$(proxmox-backup-manager versions 2>/dev/null | "
            "sed -n 's/^proxmox-backup-server \\([0-9][0-9.]*\\).*/\\1/p' | head -n1)",
            "if command -v pbs3to4 >/dev/null 2>&1; then out=$(pbs3to4 2>&1 | "
            f"sed '{ANSI}'); echo pbs3to4=ran; "
            "echo pbs3to4_failures=$(printf '%s\\n' \"$out\" | sed -n "
            "'s/^FAILURES: *\\([0-9]*\\).*/\\1/p' | head -n1); "
            "printf '%s\\n' \"$out\" | sed -n 's/^FAIL: /pbs3to4_fail=/p' | head -n3; "
            "else echo pbs3to4=missing; fi",
            f"newest=$(ls -1t {d} 2>/dev/null | head -n1); "
            f"[ -n \"$newest\" ] && echo backup_age=$(( $(date +%s) - "
            f"$(stat -c %Y {d}/\"$newest\") ))",
            f"echo active_tasks=$(grep -c . {ACTIVE_TASKS} 2>/dev/null || echo 0)",
            "echo root_free=$(df -B1 --output=avail / | tail -n1 | tr -d ' ')",
            "command -v zpool >/dev/null 2>&1 && zpool list -H -o name,health 2>/dev/null | "
            "awk '$2 != \"ONLINE\" {print \"pool_bad=\" $1 \" \" $2}'",
            f"for f in {SOURCES}; do [ -f \"$f\" ] || continue; "
            "grep -qw bookworm \"$f\" && echo source_bookworm=$f; "
            "grep -qw trixie \"$f\" && echo source_trixie=$f; done; true",
        ])

    def process(self, output: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for line in output:
            key, sep, value = line.partition("=")
            if not sep:
                continue
            if key in ("pool_bad", "pbs3to4_fail", "source_bookworm", "source_trixie"):
                out.setdefault(key, []).append(value)
            else:
                out[key] = value
        return out
