"""Datastore-aware heat, wear and health: the disks below each datastore and how they fare.

node_exporter and smartctl_exporter export the same readings per kernel device, but cannot
tell which disks hold which datastore. This collector maps each datastore path to its
filesystem, ZFS pool and vdevs (or block device), then to physical disks, and labels every
series with ``datastore``, ``pool`` and ``device`` (the ``/dev/disk/by-id`` name).
``pbs_disk_info`` also carries ``kernel_name`` to join node_exporter/smartctl_exporter series.

Health (``smart_status.passed``), the NVMe critical-warning bits, power-on time and media errors
(NVMe media and data integrity errors, SCSI grown defects) come from the same smartctl run. They
repeat a few smartctl_exporter families on purpose, labelled by datastore and pool so that an
alert can say which datastore a failing disk puts at risk (see docs/compatibility.md).

Temperatures come from hwmon (nvme, drivetemp) first, else from ``smartctl -j -n standby``.
smartctl is asked first so that a disk in STANDBY is never touched again (a drivetemp read
could spin it up): it gets ``pbs_disk_standby 1`` and no temperature. Without smartctl
answers the run is marked failed (``ctx.fail``) but still exports what sysfs and NVMe hwmon give.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
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
from ..hw.zpool import Pool, ZpoolStatus
from .base import CollectContext, Collector

LABELS = ["datastore", "pool", "device"]
#: -i identity, -H health, -A attributes/health log; -n standby: never wake a sleeping disk.
SMARTCTL_ARGV = ["smartctl", "-j", "-n", "standby", "-i", "-H", "-A"]
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
    smart: SmartReport | None  # the awake, opened smartctl report (None: asleep or no answer)


class HardwareCollector(Collector):
    """Heat, wear and identity of the disks under each datastore."""

    name = "hardware"
    interval = 300.0

    def __init__(self) -> None:
        self._status = ZpoolStatus()

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

    def _pools(self, ctx: CollectContext, problems: list[str]) -> dict[str, Pool]:
        return {pool.name: pool for pool in self._status.read(ctx.run_tool, problems)}

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
        text = ctx.run_tool([*SMARTCTL_ARGV, f"/dev/{disk}"])
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
        smart=report if report is not None and report.opened and not report.standby else None,
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
                   readings: dict[str, DiskReading]) -> list[Metric]:
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
    healthy = GaugeMetricFamily(
        "pbs_disk_smart_healthy", "1 if the disk's SMART overall-health self-assessment passed, "
        "0 if it failed (smartctl -H).", labels=LABELS)
    critical = GaugeMetricFamily(
        "pbs_disk_nvme_critical_warning", "NVMe SMART critical warning bit field (0 = none; "
        "1 spare, 2 temperature, 4 reliability, 8 read-only, 16 volatile backup, 32 PMR).",
        labels=LABELS)
    power_on = GaugeMetricFamily(
        "pbs_disk_power_on_seconds", "Power-on time the disk reports.", labels=LABELS)
    media = CounterMetricFamily(
        "pbs_disk_media_errors", "Media errors the disk reports: NVMe media and data integrity "
        "errors; SCSI/SAS grown defect list length.", labels=LABELS)
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
        if r.smart is None:
            continue
        if r.smart.healthy is not None:
            healthy.add_metric(labels, 1.0 if r.smart.healthy else 0.0)
        if r.smart.nvme_critical_warning is not None:
            critical.add_metric(labels, float(r.smart.nvme_critical_warning))
        if r.smart.power_on_seconds is not None:
            power_on.add_metric(labels, r.smart.power_on_seconds)
        if r.smart.media_errors is not None:
            media.add_metric(labels, float(r.smart.media_errors))
    return [info, temperature, wearout, standby, healthy, critical, power_on, media]
