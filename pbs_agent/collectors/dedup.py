"""The ``dedup`` collector: the dedup engine's report of each datastore, as metrics.

Datastores come from the host's resolver (``--datastore NAME=PATH`` or ``datastore.cfg``);
only local ones are scanned: S3-backed stores are skipped (their local path is only a cache,
the chunks are in the bucket), so are removable stores whose device is not mounted. The scans
run in a child process (:mod:`pbs_agent.engine.child`) so that scrapes never wait for them.
Groups per datastore are capped at ``max_groups`` by exclusive bytes; the rest are summed into
one ``backup_id="__other__"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ..errors import SourceError
from .base import CollectContext, Collector

if TYPE_CHECKING:  # the engine (numpy) is imported when a scan runs
    from ..engine.model import DatastoreReport, DatastoreTotals, GroupReport

OTHER = "__other__"
GROUP_LABELS = ["datastore", "namespace", "backup_type", "backup_id"]
#: (metric name suffix, the report value, help): the values are read from the engine's types.
_DS_SPEC: tuple[tuple[str, Callable[[DatastoreTotals], float | None], str], ...] = (
    ("logical_bytes", lambda d: d.logical_bytes, "Logical bytes referenced by all snapshots."),
    ("physical_bytes", lambda d: d.physical_bytes, "On-disk bytes of the chunks referenced."),
    ("dedup_factor", lambda d: d.dedup_factor, "Logical bytes / physical bytes."),
    ("garbage_bytes", lambda d: d.garbage_bytes,
     "On-disk bytes of chunks no snapshot references."),
    ("missing_chunks", lambda d: d.missing_chunks,
     "Referenced chunks missing from the chunk store."),
    ("bad_chunks", lambda d: d.bad_chunks, "Chunks marked bad (.bad files) by verify."),
    ("chunks_on_disk", lambda d: d.chunks_on_disk, "Chunk files in the chunk store."),
    ("referenced_chunks", lambda d: d.chunks_referenced,
     "Distinct chunks referenced by snapshots."),
    ("snapshots", lambda d: d.snapshots, "Finished snapshots."),
    ("index_files", lambda d: d.index_files, "Index files (.fidx/.didx) read."),
)
_GROUP_SPEC: tuple[tuple[str, Callable[[GroupReport], float | None], str], ...] = (
    ("snapshots", lambda g: g.snapshots, "Snapshots in the group."),
    ("last_backup_timestamp_seconds", lambda g: g.last_backup_time,
     "Time of the group's newest snapshot."),
    ("referenced_bytes", lambda g: g.referenced_bytes,
     "On-disk bytes of chunks the group references."),
    ("exclusive_bytes", lambda g: g.exclusive_bytes,
     "On-disk bytes of chunks only this group references (freed if it were removed)."),
    ("last_new_bytes", lambda g: g.last_new_bytes, "On-disk bytes the newest snapshot added."),
    ("last_logical_bytes", lambda g: g.last_logical_bytes,
     "Logical bytes of the newest snapshot."),
)


def cap_groups(groups: list[GroupReport], limit: int) -> list[GroupReport]:
    """The top *limit* groups by exclusive bytes, plus one summed ``__other__`` group."""
    from ..engine.model import GroupReport

    ranked = sorted(groups, key=lambda g: (-g.exclusive_bytes, g.backup_id))
    if len(ranked) <= limit:
        return ranked
    rest = ranked[limit:]
    other = GroupReport(
        "", "", OTHER, snapshots=sum(g.snapshots for g in rest),
        referenced_bytes=sum(g.referenced_bytes for g in rest),
        exclusive_bytes=sum(g.exclusive_bytes for g in rest),
        last_new_bytes=sum(g.last_new_bytes for g in rest),
        last_logical_bytes=sum(g.last_logical_bytes for g in rest),
        last_backup_time=max((g.last_backup_time or 0) for g in rest))
    return [*ranked[:limit], other]


class DatastoreFamilies:
    """Metric families for the reports of several datastores."""

    def __init__(self) -> None:
        self.ds = {name: GaugeMetricFamily(f"pbs_datastore_{name}", help_, labels=["datastore"])
                   for name, _, help_ in _DS_SPEC}
        self.scan_errors = GaugeMetricFamily(
            "pbs_datastore_scan_errors", "Problems the last scan met (unreadable files…).",
            labels=["datastore"])
        self.scan_ok = GaugeMetricFamily(
            "pbs_datastore_scan_success", "1 if the last scan of the datastore completed.",
            labels=["datastore"])
        self.group = {name: GaugeMetricFamily(f"pbs_group_{name}", help_, labels=GROUP_LABELS)
                      for name, _, help_ in _GROUP_SPEC}
        self.verify = GaugeMetricFamily(
            "pbs_group_last_verify_state",
            "Verify state of the group's newest snapshot: 1 on the current state.",
            labels=[*GROUP_LABELS, "state"])
        self.info = GaugeMetricFamily("pbs_group_info", "Owner and comment of a backup group.",
                                      labels=[*GROUP_LABELS, "owner", "comment"])

    def add_report(self, name: str, report: DatastoreReport, max_groups: int) -> None:
        for metric, get, _ in _DS_SPEC:
            value = get(report.datastore)
            if value is not None:
                self.ds[metric].add_metric([name], value)
        self.scan_errors.add_metric([name], len(report.errors))
        self.scan_ok.add_metric([name], 1)
        for g in cap_groups(list(report.groups), max_groups):
            self._add_group(name, g)

    def _add_group(self, name: str, g: GroupReport) -> None:
        labels = [name, g.namespace, g.backup_type, g.backup_id]
        for metric, get, _ in _GROUP_SPEC:
            value = get(g)
            if value is not None:
                self.group[metric].add_metric(labels, value)
        if g.backup_id == OTHER:
            return
        current = g.last_verify_state or "none"
        for state in ("ok", "failed", "none"):
            self.verify.add_metric([*labels, state], int(state == current))
        self.info.add_metric([*labels, g.owner or "", g.comment or ""], 1)

    def add_failure(self, name: str) -> None:
        self.scan_ok.add_metric([name], 0)

    def families(self) -> list[Metric]:
        return [*self.ds.values(), self.scan_errors, self.scan_ok, *self.group.values(),
                self.verify, self.info]


def configured_datastores(ctx: CollectContext) -> dict[str, Path]:
    """The datastores to scan: the resolver's local ones (S3-backed and unmounted removable
    stores are skipped); each broken datastore.cfg section counts as a parse error."""
    stores = ctx.datastores()
    for error in stores.errors:
        ctx.parse_error(str(error))
    return stores.local()


class DedupCollector(Collector):
    """Dedup factor, garbage, missing/bad chunks and per-group attribution per datastore."""

    name = "dedup"
    interval = 900.0

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        stores = configured_datastores(ctx)
        try:  # only when a scan runs: `pbs-agent metrics` without dedup does not load numpy
            from ..engine.child import scan_in_child
        except ImportError as exc:
            raise SourceError("pbs_agent.engine", f"dedup engine unavailable: {exc}") from None
        fams = DatastoreFamilies()
        if not stores:
            return fams.families()
        result = scan_in_child(stores, ctx.settings.state_dir)
        for name in sorted(stores):
            if name in result.reports:
                fams.add_report(name, result.reports[name], ctx.settings.max_groups)
            else:
                fams.add_failure(name)
        if not result.reports:
            first = result.failures.get(min(stores))
            raise SourceError(first.path if first else "dedup scan",
                              first.reason if first else "no report")
        return fams.families()
