"""What every concern agrees on: which inventory groups are PBS and PVE hosts, where
datastores live, and the port of the PBS API.

    >>> is_pbs(["pbs", "dc1"]), datastore_path("store1")
    (True, '/mnt/datastore/store1')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Inventory groups whose hosts become PBS nodes (other hosts are left alone).
PBS_GROUPS = ("pbs", "pbs_offsite")
#: Inventory groups whose hosts are Proxmox VE nodes (they get the PBS storage entries).
PVE_GROUPS = ("pve",)
#: Where datastores live unless the inventory names a path (PBS's own default location).
DATASTORE_ROOT = "/mnt/datastore"
#: The PBS API and backup port (``proxmox-backup-proxy``).
PBS_PORT = 8007


@dataclass(frozen=True)
class DebianRelease:
    """A Debian release a PBS node may run, and the PBS major version built for it."""

    version: str
    codename: str
    pbs_major: int


#: The releases a PBS node may run, oldest first. The newest is the default platform (PBS 4 on
#: Debian 13); PBS 3 on Debian 12 stays supported. The deploy's preflight, the sandbox lab's
#: root filesystems, the VM tier and the demo all take their list from here.
DEBIAN_RELEASES = (DebianRelease("12", "bookworm", 3), DebianRelease("13", "trixie", 4))
DEFAULT_DEBIAN = DEBIAN_RELEASES[-1]


def debian_release(version_or_codename: str) -> DebianRelease | None:
    """The supported release named by its major version ("13") or codename ("trixie")."""
    return next((r for r in DEBIAN_RELEASES
                 if version_or_codename in (r.version, r.codename)), None)


def is_pbs(groups: Iterable[str]) -> bool:
    """Is a host in *groups* a PBS node (one of :data:`PBS_GROUPS`)?"""
    return any(group in PBS_GROUPS for group in groups)


def is_pve(groups: Iterable[str]) -> bool:
    """Is a host in *groups* a PVE node (one of :data:`PVE_GROUPS`)?"""
    return any(group in PVE_GROUPS for group in groups)


def datastore_path(name: str) -> str:
    """The default path of datastore *name*: ``/mnt/datastore/<name>``."""
    return f"{DATASTORE_ROOT}/{name}"
