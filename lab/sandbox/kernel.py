"""Kernel-wide settings of THIS machine, to prove a sandbox deploy did not change them.

``vm.*``, ``fs.*`` and ``kernel.*`` are not per network namespace; the ``net.*`` keys listed
are read in this machine's own namespace (the hosts have their own).
"""

from __future__ import annotations

import os
from pathlib import Path

WATCHED_KEYS = (
    "vm.swappiness", "vm.dirty_ratio", "vm.dirty_background_ratio", "vm.dirty_bytes",
    "vm.dirty_background_bytes", "vm.min_free_kbytes", "vm.vfs_cache_pressure",
    "vm.overcommit_memory", "vm.max_map_count", "vm.zone_reclaim_mode",
    "fs.file-max", "fs.inotify.max_user_watches", "fs.inotify.max_user_instances",
    "fs.aio-max-nr", "kernel.pid_max", "kernel.panic", "kernel.sysrq", "kernel.hostname",
    "kernel.domainname", "kernel.kptr_restrict", "kernel.dmesg_restrict",
    "net.core.rmem_max", "net.core.wmem_max", "net.core.rmem_default",
    "net.core.wmem_default", "net.core.somaxconn", "net.core.netdev_max_backlog",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.ip_forward",
)


def host_kernel_snapshot(keys: tuple[str, ...] = WATCHED_KEYS) -> dict[str, str]:
    """``{key: value}`` read from this machine's /proc/sys (missing keys are left out).

    Example::

        before = host_kernel_snapshot()
        run_pyinfra(inventory, "deploys/pbs_host.py")
        assert host_kernel_snapshot() == before
    """
    values = {}
    for key in keys:
        path = Path("/proc/sys", *key.split("."))
        try:
            values[key] = " ".join(path.read_text().split())
        except (FileNotFoundError, PermissionError):
            continue
    return values


def inotify_instances_in_use(uid: int = 0) -> int:
    """inotify instances held by processes of *uid* (the kernel limits them per user)."""
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            real_uid = int(status.split("\nUid:", 1)[1].split()[0])
            if real_uid != uid:
                continue
            fd_dir = f"/proc/{pid}/fd"
            count += sum(os.readlink(f"{fd_dir}/{fd}") == "anon_inode:inotify"
                         for fd in os.listdir(fd_dir))
        except (OSError, IndexError, ValueError):
            continue
    return count


def inotify_limit() -> int:
    return int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
