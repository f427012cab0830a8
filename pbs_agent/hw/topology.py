"""Datastore -> filesystem -> ZFS pool and vdevs, or block device -> physical disks.

This is what node_exporter and smartctl_exporter cannot know: which disks hold which datastore.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .blockdev import ByIdIndex, leaf_disks, name_of_devnum, name_of_devpath, whole_disk
from .mounts import Mount, find_mount
from .zpool import Pool


@dataclass(frozen=True)
class Placement:
    """One physical disk under one datastore."""

    datastore: str
    pool: str  # "" when the datastore is not on ZFS
    disk: str  # kernel name, e.g. "sda"
    device: str  # stable name: the by-id name, else the kernel name


@dataclass(frozen=True)
class DatastoreMount:
    """Where a datastore lives."""

    datastore: str
    mount: Mount


def datastore_mounts(stores: Mapping[str, Path], mounts: list[Mount]) -> list[DatastoreMount]:
    """The mount of each datastore path (datastores on no known mount are left out).

    *stores* are the host resolver's local datastores (``Datastores.local()``): S3-backed
    stores (a local cache, not the data) and unmounted removable ones are not placed.
    """
    found = []
    for name, path in sorted(stores.items()):
        mount = find_mount(mounts, str(path))
        if mount is not None:
            found.append(DatastoreMount(name, mount))
    return found


def pool_disks(pool: Pool, sysfs: Path, devfs: Path, by_id: ByIdIndex) -> list[tuple[str, str]]:
    """(kernel name, by-id name) of the disks under a pool's leaf vdevs that are present."""
    disks: list[tuple[str, str]] = []
    for leaf in pool.leaves():
        path = leaf.name if leaf.name.startswith("/dev/") else leaf.former_path
        name = name_of_devpath(devfs, path) if path else None
        if not name or not (sysfs / "class" / "block" / name).exists():
            continue
        hint = re.sub(r"-part\d+$", "", path.rsplit("/", 1)[-1]) if "/by-id/" in path else ""
        for disk in leaf_disks(sysfs, whole_disk(sysfs, name)):
            if disk not in (d for d, _ in disks):
                disks.append((disk, by_id.name(disk, hint)))
    return disks


def placements(ds_mounts: list[DatastoreMount], pool_of: Callable[[str], Pool | None],
               sysfs: Path, devfs: Path) -> list[Placement]:
    """Every (datastore, pool, disk) triple, via ZFS vdevs or the mount's block device."""
    by_id = ByIdIndex(devfs)
    result = []
    for dsm in ds_mounts:
        pool_name = dsm.mount.zfs_pool
        if pool_name:
            pool = pool_of(pool_name)
            disks = pool_disks(pool, sysfs, devfs, by_id) if pool else []
        else:
            block = name_of_devnum(sysfs, dsm.mount.devnum)
            leaves = leaf_disks(sysfs, block) if block else []
            disks = [(disk, by_id.name(disk)) for disk in leaves]
        result += [Placement(dsm.datastore, pool_name, disk, device) for disk, device in disks]
    return result
