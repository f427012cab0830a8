"""The ``dedup`` collector: the dedup engine's report of each datastore, as metrics.

Datastores come from the host's resolver (``--datastore NAME=PATH`` or ``datastore.cfg``);
only local ones are scanned: S3-backed stores are skipped (their local path is only a cache,
the chunks are in the bucket), so are removable stores whose device is not mounted. The scans
run in a child process (:mod:`pbs_agent.engine.child`) so that scrapes never wait for them.
Groups per datastore are capped at ``max_groups`` by exclusive bytes; the rest are summed into
one ``backup_id="__other__"``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ..engine.child import scan_in_child
from ..errors import SourceError
from .base import CollectContext, Collector

OTHER = "__other__"
GROUP_LABELS = ["datastore", "namespace", "backup_type", "backup_id"]
_DS_SPEC = (
    ("logical_bytes", "logical_bytes", "Logical bytes referenced by all snapshots."),
    ("physical_bytes", "physical_bytes", "On-disk bytes of the chunks referenced."),
    ("dedup_factor", "dedup_factor", "Logical bytes / physical bytes."),
    ("garbage_bytes", "garbage_bytes", "On-disk bytes of chunks no snapshot references."),
    ("missing_chunks", "missing_chunks", "Referenced chunks missing from the chunk store."),
    ("bad_chunks", "bad_chunks", "Chunks marked bad (.bad files) by verify."),
    ("chunks_on_disk", "chunks_on_disk", "Chunk files in the chunk store."),
    ("referenced_chunks", "chunks_referenced", "Distinct chunks referenced by snapshots."),
    ("snapshots", "snapshots", "Finished snapshots."),
    ("index_files", "index_files", "Index files (.fidx/.didx) read."),
)
_GROUP_SPEC = (
    ("snapshots", "snapshots", "Snapshots in the group."),
    ("last_backup_timestamp_seconds", "last_backup_time", "Time of the group's newest snapshot."),
    ("referenced_bytes", "referenced_bytes", "On-disk bytes of chunks the group references."),
    ("exclusive_bytes", "exclusive_bytes",
     "On-disk bytes of chunks only this group references (freed if it were removed)."),
    ("last_new_bytes", "last_new_bytes", "On-disk bytes the newest snapshot added."),
    ("last_logical_bytes", "last_logical_bytes", "Logical bytes of the newest snapshot."),
)
_SUMMED = ("snapshots", "referenced_bytes", "exclusive_bytes", "last_new_bytes",
           "last_logical_bytes")


def cap_groups(groups: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The top *limit* groups by exclusive bytes, plus one summed ``__other__`` group."""
    ranked = sorted(groups, key=lambda g: (-g.get("exclusive_bytes", 0), g.get("backup_id", "")))
    if len(ranked) <= limit:
        return ranked
    rest = ranked[limit:]
    other: dict[str, Any] = {"namespace": "", "backup_type": "", "backup_id": OTHER}
    for key in _SUMMED:
        other[key] = sum(g.get(key) or 0 for g in rest)
    other["last_backup_time"] = max((g.get("last_backup_time") or 0) for g in rest)
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

    def add_report(self, name: str, report: Mapping[str, Any], max_groups: int) -> None:
        ds = report["datastore"]
        for metric, key, _ in _DS_SPEC:
            if ds.get(key) is not None:
                self.ds[metric].add_metric([name], ds[key])
        self.scan_errors.add_metric([name], len(report.get("errors", [])))
        self.scan_ok.add_metric([name], 1)
        for g in cap_groups(list(report.get("groups", [])), max_groups):
            self._add_group(name, g)

    def _add_group(self, name: str, g: Mapping[str, Any]) -> None:
        labels = [name, g.get("namespace", ""), g.get("backup_type", ""), g.get("backup_id", "")]
        for metric, key, _ in _GROUP_SPEC:
            if g.get(key) is not None:
                self.group[metric].add_metric(labels, g[key])
        if g.get("backup_id") == OTHER:
            return
        current = g.get("last_verify_state") or "none"
        for state in ("ok", "failed", "none"):
            self.verify.add_metric([*labels, state], int(state == current))
        self.info.add_metric([*labels, g.get("owner") or "", g.get("comment") or ""], 1)

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


def check_engine() -> None:
    """SourceError if the dedup engine is not installed."""
    try:
        importlib.import_module("pbs_agent.engine")
    except ImportError as exc:
        raise SourceError("pbs_agent.engine", f"dedup engine unavailable: {exc}") from None


class DedupCollector(Collector):
    """Dedup factor, garbage, missing/bad chunks and per-group attribution per datastore."""

    name = "dedup"
    interval = 900.0

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        stores = configured_datastores(ctx)
        check_engine()
        result = scan_in_child(stores, ctx.settings.state_dir) if stores else {}
        fams = DatastoreFamilies()
        reports, failures = result.get("reports", {}), result.get("failures", {})
        for name in sorted(stores):
            if name in reports:
                fams.add_report(name, reports[name], ctx.settings.max_groups)
            else:
                fams.add_failure(name)
        if stores and not reports:
            first = failures.get(min(stores), {"path": "dedup scan", "reason": "no report"})
            raise SourceError(first["path"], first["reason"])
        return fams.families()
