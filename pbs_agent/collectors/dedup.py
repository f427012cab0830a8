"""The ``dedup`` collector: the dedup engine's report of each datastore, as metrics.

Datastores come from the host's resolver (``--datastore NAME=PATH`` or ``datastore.cfg``).
Filesystem stores are scanned from their chunk directories; S3-backed ones (PBS 4) from their
bucket listing, rationed by ``--s3.request-budget`` and ``--s3.list-interval``, with the
indexes from their local cache; removable stores whose device is not mounted are not scanned
and raise nothing (``pbs_datastore_mounted 0`` says so: a state, not a fault). The scans run in
a child process (:mod:`pbs_agent.engine.child`) so that scrapes never wait for them. Every
configured store has ``pbs_datastore_backend_info{backend}``; S3-backed ones the listing's
cost as ``pbs_s3_list_*_total`` counters.
Groups per datastore are capped at ``max_groups`` by exclusive bytes; the rest are summed into
one ``backup_id="__other__"``. Times (newest backup, newest restorable and verified-ok
snapshot) are exported for every group: the coverage rules join each guest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ..errors import SourceError
from .base import CollectContext, Collector

if TYPE_CHECKING:  # the engine (numpy) is imported when a scan runs
    from ..assurance.reclaim import GcRule
    from ..engine.model import DatastoreReport, DatastoreTotals, GroupReport
    from ..engine.s3listing import S3Source

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
    ("garbage_reclaimable_bytes", lambda d: d.garbage_reclaimable_bytes,
     "Garbage bytes a GC starting now would remove (atime older than the cutoff)."),
    ("garbage_pending_bytes", lambda d: d.garbage_pending_bytes,
     "Garbage bytes a GC starting now would keep (atime within the cutoff or a running "
     "writer's window)."),
    ("garbage_pending_until_timestamp_seconds", lambda d: d.garbage_pending_until,
     "When the newest pending garbage becomes removable (its atime + the cutoff)."),
)
_GROUP_SPEC: tuple[tuple[str, Callable[[GroupReport], float | None], str], ...] = (
    ("snapshots", lambda g: g.snapshots, "Snapshots in the group."),
    ("referenced_bytes", lambda g: g.referenced_bytes,
     "On-disk bytes of chunks the group references."),
    ("exclusive_bytes", lambda g: g.exclusive_bytes,
     "On-disk bytes of chunks only this group references (freed if it were removed)."),
    ("last_new_bytes", lambda g: g.last_new_bytes, "On-disk bytes the newest snapshot added."),
    ("last_logical_bytes", lambda g: g.last_logical_bytes,
     "Logical bytes of the newest snapshot."),
)
#: Times, for every group (no cap: the coverage alerts need each guest); a restore point is 0
#: when the group has none (never verified ok / nothing restorable).
_POINT_SPEC: tuple[tuple[str, Callable[[GroupReport], int | None], str], ...] = (
    ("last_backup_timestamp_seconds", lambda g: g.last_backup_time,
     "Time of the group's newest snapshot."),
    ("last_restorable_timestamp_seconds", lambda g: g.last_restorable_time,
     "Newest finished snapshot that can be restored: manifest not failed, every index "
     "readable, no chunk missing or bad (0: none)."),
    ("last_verified_ok_timestamp_seconds", lambda g: g.last_verified_ok_time,
     "Newest snapshot whose manifest says verify ok (0: none)."),
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
                      for name, _, help_ in (*_GROUP_SPEC, *_POINT_SPEC)}
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
        for g in report.groups:
            labels = [name, g.namespace, g.backup_type, g.backup_id]
            for metric, point, _ in _POINT_SPEC:
                value = point(g)
                if value is not None or metric != "last_backup_timestamp_seconds":
                    self.group[metric].add_metric(labels, value or 0)

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


class StoreFamilies:
    """Backend and mount state of every configured datastore, and the S3 listing counters."""

    def __init__(self) -> None:
        self.backend = GaugeMetricFamily(
            "pbs_datastore_backend_info", "Where the datastore's chunks are: filesystem or s3 "
            "(PBS 4; an s3 store's path is a local cache).", labels=["datastore", "backend"])
        self.mounted = GaugeMetricFamily(
            "pbs_datastore_mounted", "Removable datastore: 1 while its device is mounted at "
            "/mnt/datastore/<name>, else 0 (not scanned then).", labels=["datastore"])
        self.requests = CounterMetricFamily(
            "pbs_s3_list_requests", "LIST requests the agent sent for the datastore's bucket.",
            labels=["datastore"])
        self.bytes = CounterMetricFamily(
            "pbs_s3_list_response_bytes", "Bytes of LIST responses received.",
            labels=["datastore"])
        self.objects = CounterMetricFamily(
            "pbs_s3_list_objects", "Objects listed from the datastore's bucket.",
            labels=["datastore"])
        self.stops = CounterMetricFamily(
            "pbs_s3_list_budget_stops", "Listings stopped by --s3.request-budget.",
            labels=["datastore"])

    def add(self, ctx: CollectContext) -> None:
        if ctx.settings.datastores:
            return
        for d in ctx.datastores():
            self.backend.add_metric([d.name, d.backend], 1)
            if d.removable:
                self.mounted.add_metric([d.name], int(d.mounted))
            if d.backend == "s3":
                from ..engine.s3listing import Counters, state_dir_of

                c = Counters.load(state_dir_of(ctx.settings.state_dir, d.name) / "counters.json")
                self.requests.add_metric([d.name], c.requests)
                self.bytes.add_metric([d.name], c.response_bytes)
                self.objects.add_metric([d.name], c.objects)
                self.stops.add_metric([d.name], c.budget_stops)

    def families(self) -> list[Metric]:
        return [self.backend, self.mounted, self.requests, self.bytes, self.objects, self.stops]


def s3_sources(ctx: CollectContext) -> dict[str, S3Source]:
    """The S3-backed datastores to scan from their buckets (none with ``--datastore``)."""
    if ctx.settings.datastores:
        return {}
    from ..engine.s3listing import S3Source

    return {name: S3Source(str(ctx.settings.config_dir), d.s3_endpoint or "", d.bucket or "",
                           ctx.settings.s3_request_budget, float(ctx.settings.s3_list_interval))
            for name, d in ctx.datastores().s3().items()}


def gc_rules(ctx: CollectContext, stores: Iterable[str]) -> dict[str, GcRule]:
    """Per datastore the GC rule of its reclaim forecast: the tuned ``gc-atime-cutoff`` and
    the oldest backup or sync still writing into it (``<log-dir>/tasks/active``)."""
    from ..assurance.reclaim import DEFAULT_CUTOFF_MIN, GcRule
    from ..host import gc_atime_cutoffs
    from ..tasks.tasklog import oldest_writer

    try:
        active = (ctx.settings.log_dir / "tasks" / "active").read_text(errors="replace")
    except OSError:
        active = ""  # no active file: nothing runs
    tuned = gc_atime_cutoffs(ctx.settings.config_dir)
    return {name: GcRule(tuned.get(name, DEFAULT_CUTOFF_MIN) * 60, oldest_writer(active, name))
            for name in stores}


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
        s3 = s3_sources(ctx)
        stores.update({name: ctx.datastores().s3()[name].path for name in s3})
        try:  # only when a scan runs: `pbs-agent metrics` without dedup does not load numpy
            from ..engine.child import scan_in_child
        except ImportError as exc:
            raise SourceError("pbs_agent.engine", f"dedup engine unavailable: {exc}") from None
        fams, store_fams = DatastoreFamilies(), StoreFamilies()
        if not stores:
            store_fams.add(ctx)
            return [*fams.families(), *store_fams.families()]
        result = scan_in_child(stores, ctx.settings.state_dir, s3, gc_rules(ctx, stores))
        for name in sorted(stores):
            if name in result.reports:
                fams.add_report(name, result.reports[name], ctx.settings.max_groups)
            else:
                fams.add_failure(name)
        if not result.reports:
            first = result.failures.get(min(stores))
            raise SourceError(first.path if first else "dedup scan",
                              first.reason if first else "no report")
        store_fams.add(ctx)  # after the scan: its S3 listing counters
        return [*fams.families(), *store_fams.families()]
