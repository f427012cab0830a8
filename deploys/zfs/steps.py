"""ZFS: pools from by-id disks (refusing disks in use) and one dataset per datastore."""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import files

from deploys import schema
from deploys.conventions import datastore_path
from deploys.zfs import plan as zfsplan
from deploys.zfs.operations import current_plan, zfs_datastore_datasets, zfs_pool


def _pools_ok(pools: list[Any]) -> str | None:
    names = [p.get("name") for p in pools if isinstance(p, dict)]
    if len(set(names)) != len(names):
        return "two pools share a name"
    for pool in pools:
        problem = zfsplan.pool_spec_problem(pool)
        if problem:
            return problem
    return None


def _by_id(paths: list[str]) -> str | None:
    bad = [p for p in paths if not p.startswith(zfsplan.BY_ID)]
    return f"{bad[0]!r} is not a {zfsplan.BY_ID} path" if bad else None


KEYS = schema.register(__name__, {
    "zfs_pools": schema.Key(
        list, default=[], item=dict, check=_pools_ok,
        doc="ZFS pools to build; each a dict with `name`, `layout` (mirror, raidz1, raidz2, "
            "striped-mirror, single), `disks` (/dev/disk/by-id paths), optional `special` "
            "(mirror of SSD/NVMe for metadata), `special_small_blocks` (e.g. `'16K'`), `log`, "
            "`ashift` (default 12), `datastores` (names; one dataset each at "
            "/mnt/datastore/<name>). Empty: no ZFS step."),
    "zfs_wipe_allow": schema.Key(
        list, default=[], item=str, check=_by_id,
        doc="Disks (by-id paths) the deploy may wipe although they carry partitions, "
            "filesystem signatures or a ZFS label. Mounted disks and members of imported pools "
            "are refused regardless. Only these disks get `wipefs -a` / `zpool create -f`."),
})


@deploy("ZFS")
def zfs_step() -> None:
    """Refuse used disks before anything runs; then create pools and datasets."""
    pools = schema.value(host, "zfs_pools")
    wipe_allow = schema.value(host, "zfs_wipe_allow")
    for pool in pools:
        plan = current_plan(pool, wipe_allow)
        if plan.action == "refuse":
            raise DeployError(f"{host.name}: zfs pool {plan.name} refused: "
                              + "; ".join(plan.problems))
    for pool in pools:
        zfs_pool(name=f"ZFS pool {pool['name']}", pool=pool, wipe_allow=wipe_allow)
        if pool.get("datastores"):
            zfs_datastore_datasets(name=f"ZFS datasets on {pool['name']}", pool=pool["name"],
                                   stores=list(pool["datastores"]))
        for store in pool.get("datastores", []):
            files.directory(name=f"Datastore directory {datastore_path(store)} owned by backup",
                            path=datastore_path(store),
                            user="backup", group="backup")
