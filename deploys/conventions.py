"""What every concern agrees on: which inventory groups are PBS and PVE hosts, where
datastores live, and the port of the PBS API.

    >>> is_pbs(["pbs", "dc1"]), datastore_path("store1")
    (True, '/mnt/datastore/store1')
"""

from __future__ import annotations

from collections.abc import Iterable

#: Inventory groups whose hosts become PBS nodes (other hosts are left alone).
PBS_GROUPS = ("pbs", "pbs_offsite")
#: Inventory groups whose hosts are Proxmox VE nodes (they get the PBS storage entries).
PVE_GROUPS = ("pve",)
#: Where datastores live unless the inventory names a path (PBS's own default location).
DATASTORE_ROOT = "/mnt/datastore"
#: The PBS API and backup port (``proxmox-backup-proxy``).
PBS_PORT = 8007


def is_pbs(groups: Iterable[str]) -> bool:
    """Is a host in *groups* a PBS node (one of :data:`PBS_GROUPS`)?"""
    return any(group in PBS_GROUPS for group in groups)


def is_pve(groups: Iterable[str]) -> bool:
    """Is a host in *groups* a PVE node (one of :data:`PVE_GROUPS`)?"""
    return any(group in PVE_GROUPS for group in groups)


def datastore_path(name: str) -> str:
    """The default path of datastore *name*: ``/mnt/datastore/<name>``."""
    return f"{DATASTORE_ROOT}/{name}"
