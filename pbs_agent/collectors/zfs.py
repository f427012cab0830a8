"""ZFS pool health that node_exporter and zfs_exporter lack: vdev states and per-disk error
counters, scrub and resilver progress, the last scrub's end, suspended pools. Read from
``zpool status -j`` (OpenZFS >= 2.3), else ``zpool status -P -p`` (:class:`ZpoolStatus`).

Series are bounded: one ``pbs_zpool_vdev_state`` per vdev row (the current state only) and
three ``pbs_zpool_vdev_errors`` per leaf, for at most ``MAX_VDEVS`` rows per pool.

A host without the zfs kernel module has no pools: the collector exports nothing and succeeds.
With the module loaded, a missing ``zpool`` is a SourceError.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ..hw.zpool import Pool, Vdev, ZpoolStatus
from .base import CollectContext, Collector

POOL_STATES = ("ONLINE", "DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED", "SUSPENDED")
SCAN_KINDS = ("scrub", "resilver")


class ZfsCollector(Collector):
    """Pool state, vdev errors, scrub/resilver state of every imported pool."""

    name = "zfs"
    interval = 60.0

    def __init__(self) -> None:
        # zpool status shows only the current scan: remember each pool's last scrub end
        # across a running scrub or a later resilver.
        self._last_scrub_end: dict[str, float] = {}
        self._status = ZpoolStatus()

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        if not (ctx.settings.sysfs / "module" / "zfs").exists():
            return []
        problems: list[str] = []
        pools = self._status.read(ctx.run_tool, problems)
        rows = {pool.name: _unique_rows(pool, problems) for pool in pools}
        for problem in problems:
            ctx.parse_error(problem)
        for pool in pools:
            for scan in pool.scans:
                if scan.kind == "scrub" and scan.end_timestamp is not None:
                    self._last_scrub_end[pool.name] = scan.end_timestamp
        return [_state_family(pools), *_vdev_families(rows), *_scan_families(pools),
                self._last_scrub_family(pools), _data_errors_family(pools)]

    def _last_scrub_family(self, pools: list[Pool]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "pbs_zpool_last_scrub_end_timestamp_seconds",
            "Unix time the last completed scrub of the pool ended.", labels=["pool"])
        for pool in pools:
            if pool.name in self._last_scrub_end:
                family.add_metric([pool.name], self._last_scrub_end[pool.name])
        return family


def _state_family(pools: list[Pool]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "pbs_zpool_state", "1 on the current state of the pool (SUSPENDED: I/O failures, "
        "the pool blocks until 'zpool clear').", labels=["pool", "state"])
    for pool in pools:
        states = POOL_STATES if pool.state in POOL_STATES else (*POOL_STATES, pool.state)
        for state in states:
            family.add_metric([pool.name, state], 1.0 if state == pool.state else 0.0)
    return family


def _unique_rows(pool: Pool, problems: list[str]) -> list[tuple[Vdev, bool]]:
    """(vdev, is leaf) of the rows with a state, each vdev name once (a second row with the
    same name, as in redacted pastes, is a problem, not a duplicate series)."""
    leaves = {id(v) for v in pool.leaves()}
    seen: set[str] = set()
    rows = []
    for vdev in pool.vdevs:
        if not vdev.state:  # class headers, or no state in the JSON
            continue
        if vdev.name in seen:
            problems.append(f"zpool status: pool {pool.name}: vdev {vdev.name} listed twice")
            continue
        seen.add(vdev.name)
        rows.append((vdev, id(vdev) in leaves))
    return rows


def _vdev_families(rows: dict[str, list[tuple[Vdev, bool]]]) -> list[GaugeMetricFamily]:
    state = GaugeMetricFamily(
        "pbs_zpool_vdev_state", "1 on the current state of each vdev and disk of the pool "
        "(ONLINE, DEGRADED, FAULTED, OFFLINE, UNAVAIL, REMOVED; spares AVAIL or INUSE).",
        labels=["pool", "vdev", "state"])
    errors = GaugeMetricFamily(
        "pbs_zpool_vdev_errors", "Read, write and checksum errors of a disk (leaf vdev) since "
        "import or 'zpool clear'.", labels=["pool", "vdev", "kind"])
    for pool, vdevs in rows.items():
        for vdev, leaf in vdevs:
            state.add_metric([pool, vdev.name, vdev.state], 1.0)
            if leaf:
                for kind, count in (vdev.errors or {}).items():
                    errors.add_metric([pool, vdev.name, kind], float(count))
    return [state, errors]


def _scan_families(pools: list[Pool]) -> list[GaugeMetricFamily]:
    running = GaugeMetricFamily(
        "pbs_zpool_scan_in_progress", "1 while a scrub or resilver runs (a paused scrub is 0).",
        labels=["pool", "kind"])
    progress = GaugeMetricFamily(
        "pbs_zpool_scan_progress_ratio", "Share of the running scrub or resilver done (0–1).",
        labels=["pool", "kind"])
    for pool in pools:
        for kind in SCAN_KINDS:
            active = [s for s in pool.scans if s.kind == kind and s.running]
            running.add_metric([pool.name, kind], 1.0 if active else 0.0)
            if active and active[0].progress_ratio is not None:
                progress.add_metric([pool.name, kind], active[0].progress_ratio)
    return [running, progress]


def _data_errors_family(pools: list[Pool]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "pbs_zpool_data_errors", "Blocks with permanent (unrecoverable) errors in the pool.",
        labels=["pool"])
    for pool in pools:
        if pool.data_errors is not None:
            family.add_metric([pool.name], float(pool.data_errors))
    return family
