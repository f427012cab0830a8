"""ZFS pool and dataset operations (pyinfra has no ``zpool create``)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from pyinfra import host, logger
from pyinfra.api import OperationError, operation
from pyinfra.api.command import PyinfraCommand
from pyinfra.facts.files import Directory

from deploys.zfs import plan as zfsplan
from deploys.zfs.facts import ZfsDisks, ZfsProperties, ZpoolStatus


def current_plan(pool: dict[str, Any], wipe_allow: list[str]) -> zfsplan.PoolPlan:
    """Plan *pool* against the host's disks and imported pools as they are right now."""
    disks = host.get_fact(ZfsDisks, paths=zfsplan.desired(pool).disks())
    existing = zfsplan.parse_zpool_status(host.get_fact(ZpoolStatus))
    return zfsplan.plan_pool(pool, disks, existing, wipe_allow)


@operation()
def zfs_pool(pool: dict[str, Any],
             wipe_allow: list[str]) -> Generator[str | PyinfraCommand, None, None]:
    """Create *pool* if absent; same topology = no-op; other topology = drift warning.

    Disks in use are refused unless on *wipe_allow*; ``-f`` only with an allow-listed disk.

    + pool: the pool spec from ``zfs_pools`` (``name``, ``layout``, ``disks``, optional
      ``special``, ``log``, ``ashift``, ``special_small_blocks``)
    + wipe_allow: by-id disks the deploy may wipe although they carry data signatures

    **Example:**

    .. code:: python

        zfs_pool(name="Pool tank", wipe_allow=[], pool={"name": "tank", "layout": "mirror",
                 "disks": ["/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"]})
    """
    plan = current_plan(pool, wipe_allow)
    if plan.action == "refuse":
        raise OperationError(f"{host.name}: zfs pool {plan.name} refused: "
                             + "; ".join(plan.problems))
    if plan.action == "drift":
        for problem in plan.problems:
            logger.warning(f"{host.name}: zfs drift: {problem}")
        host.noop(f"pool {plan.name}: drift reported, left alone")
        return
    if plan.action == "noop":
        host.noop(f"pool {plan.name} exists with the wanted layout")
        return
    if not host.get_fact(Directory, path="/sys/module/zfs"):
        yield "modprobe zfs"
    yield from plan.commands


@operation()
def zfs_datastore_datasets(pool: str,
                           stores: list[str]) -> Generator[str | PyinfraCommand, None, None]:
    """One dataset per datastore, mounted at /mnt/datastore/<name>, with GC-safe properties.

    + pool: the pool the datasets live in
    + stores: datastore names, one dataset ``<pool>/<name>`` each

    **Example:**

    .. code:: python

        zfs_datastore_datasets(name="Datasets", pool="tank", stores=["store1"])
    """
    have = host.get_fact(ZfsProperties)
    for store in stores:
        yield from zfsplan.dataset_commands(pool, store, have)
