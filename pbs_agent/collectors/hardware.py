"""Datastore-aware heat and wear: the disks below each datastore, their temperature and wear.

node_exporter and smartctl_exporter export the same readings per kernel device, but cannot
tell which disks hold which datastore. This collector maps each datastore path to its
filesystem, ZFS pool and vdevs (or block device), then to physical disks, and labels every
series with ``datastore``, ``pool`` and ``device`` (the ``/dev/disk/by-id`` name).
``pbs_disk_info`` also carries ``kernel_name`` to join node_exporter/smartctl_exporter series.

Temperatures come from hwmon (nvme, drivetemp) first, else from ``smartctl -j -n standby``.
smartctl is asked first so that a disk in STANDBY is never touched again (a drivetemp read
could spin it up): it gets ``pbs_disk_standby 1`` and no temperature. Without smartctl
answers the run is marked failed (``ctx.fail``) but still exports what sysfs and NVMe hwmon give.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ..errors import SourceError
from ..hw.blockdev import controller_driver, controller_mode, sysfs_identity
from ..hw.hwmon import disk_hwmon, read_temperature
from ..hw.mounts import parse_mountinfo, read_mountinfo
from ..hw.smart import SmartReport, parse_smartctl_json
from ..hw.topology import (
    DatastoreMount,
    Placement,
    datastore_mounts,
    placements,
)
from ..hw.zpool import Pool, parse_zpool_status
from .base import CollectContext, Collector

LABELS = ["datastore", "pool", "device"]
INFO_LABELS = [*LABELS, "kernel_name", "model", "serial", "controller", "controller_mode"]


@dataclass
class DiskReading:
    """What was learned about one physical disk in this run."""

    model: str
    serial: str
    controller: str
    mode: str
    standby: bool | None  # None: smartctl did not answer
    temperature: float | None
    wearout: float | None


class HardwareCollector(Collector):
    """Heat, wear and identity of the disks under each datastore."""

    name = "hardware"
    interval = 300.0

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        settings = ctx.settings
        datastores = ctx.datastores()
        for error in datastores.errors:
            ctx.parse_error(str(error))
        stores = datastores.local()
        problems: list[str] = []
        mounts = parse_mountinfo(read_mountinfo(settings.procfs), problems)
        ds_mounts = datastore_mounts(stores, mounts)
        pools = self._pools(ctx, problems) if any(d.mount.zfs_pool for d in ds_mounts) else {}
        found = placements(ds_mounts, pools.get, settings.sysfs, settings.devfs)
        readings = self._read_disks(ctx, sorted({p.disk for p in found}), problems)
        for problem in problems:
            ctx.parse_error(problem)
        return [_filesystem_family(ds_mounts), *_disk_families(found, readings)]

    @staticmethod
    def _pools(ctx: CollectContext, problems: list[str]) -> dict[str, Pool]:
        text = ctx.run_tool(["zpool", "status", "-P", "-p"])
        return {pool.name: pool for pool in parse_zpool_status(text, problems)}

    @staticmethod
    def _read_disks(ctx: CollectContext, disks: list[str],
                    problems: list[str]) -> dict[str, DiskReading]:
        readings: dict[str, DiskReading] = {}
        failures: list[SourceError] = []
        for disk in disks:
            report = _smart(ctx, disk, problems, failures)
            readings[disk] = _reading(ctx, disk, report, problems)
        if disks and len(failures) == len(disks):
            ctx.fail(f"smartctl failed for every disk: {failures[0].reason}")
        return readings


def _smart(ctx: CollectContext, disk: str, problems: list[str],
           failures: list[SourceError]) -> SmartReport | None:
    try:
        text = ctx.run_tool(["smartctl", "-j", "-n", "standby", "-i", "-A", f"/dev/{disk}"])
    except SourceError as exc:
        failures.append(exc)
        return None
    try:
        return parse_smartctl_json(text)
    except ValueError as exc:
        problems.append(f"smartctl /dev/{disk}: {exc}")
        return None


def _reading(ctx: CollectContext, disk: str, report: SmartReport | None,
             problems: list[str]) -> DiskReading:
    sysfs = ctx.settings.sysfs
    model, serial = sysfs_identity(sysfs, disk)
    driver = controller_driver(sysfs, disk) or ""
    temperature = None
    standby = report.standby if report and report.opened else None
    hwmon = disk_hwmon(sysfs, disk)
    # Only read a drivetemp sensor when smartctl saw the disk awake: the read may spin it up.
    if hwmon is not None and (standby is False or hwmon[1] == "nvme"):
        try:
            temperature = read_temperature(hwmon[0])
        except (OSError, ValueError) as exc:
            problems.append(f"hwmon of {disk}: {exc}")
    if temperature is None and report is not None:
        temperature = report.temperature_celsius
    return DiskReading(
        model=(report.model if report and report.model else model),
        serial=(report.serial if report and report.serial else serial),
        controller=driver, mode=controller_mode(driver) if driver else "unknown",
        standby=standby, temperature=temperature,
        wearout=report.wearout_ratio if report else None,
    )


def _filesystem_family(ds_mounts: list[DatastoreMount]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "pbs_datastore_filesystem_info",
        "Filesystem holding each datastore (pool is empty when not on ZFS).",
        labels=["datastore", "mountpoint", "fstype", "pool"])
    for dsm in ds_mounts:
        m = dsm.mount
        family.add_metric([dsm.datastore, m.mountpoint, m.fstype, m.zfs_pool], 1.0)
    return family


def _disk_families(found: list[Placement],
                   readings: dict[str, DiskReading]) -> list[GaugeMetricFamily]:
    info = GaugeMetricFamily(
        "pbs_disk_info", "Physical disk under a datastore: identity and host controller "
        "(controller_mode: it, raid, direct, virtual, unknown).", labels=INFO_LABELS)
    temperature = GaugeMetricFamily(
        "pbs_disk_temperature_celsius", "Disk temperature (hwmon, else smartctl).", labels=LABELS)
    wearout = GaugeMetricFamily(
        "pbs_disk_wearout_ratio", "Share of the rated endurance used (0 new, 1 worn out).",
        labels=LABELS)
    standby = GaugeMetricFamily(
        "pbs_disk_standby", "1 if the disk was in standby (not woken, no fresh readings).",
        labels=LABELS)
    for place in found:
        r = readings[place.disk]
        labels = [place.datastore, place.pool, place.device]
        info.add_metric([*labels, place.disk, r.model, r.serial, r.controller, r.mode], 1.0)
        if r.temperature is not None:
            temperature.add_metric(labels, r.temperature)
        if r.wearout is not None:
            wearout.add_metric(labels, r.wearout)
        if r.standby is not None:
            standby.add_metric(labels, 1.0 if r.standby else 0.0)
    return [info, temperature, wearout, standby]
