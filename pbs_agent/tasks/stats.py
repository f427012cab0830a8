"""What the tasks collector remembers: counters and last-run values, as plain JSON data.

:class:`TaskStats` folds finished tasks (archive line + parsed task log) into counters
(``pbs_backup_*_total``, ``pbs_tasks_total`` …) and last-run gauges, and renders them as
metric families. Its ``data`` dict is what the collector persists in the state directory,
so counters survive restarts.
"""

from __future__ import annotations

from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from .tasklog import ArchiveLine, TaskLog

SEP = "\x1f"
BACKUP_LABELS = ["datastore", "namespace", "backup_type", "backup_id"]
VERIFY_TYPES = frozenset({"verify", "verificationjob", "verify_group", "verify_snapshot"})
SYNC_TYPES = frozenset({"syncjob", "sync"})
#: GcSummary fields kept per datastore from the newest GC that printed them.
GC_FIELDS = ("removed_bytes", "removed_chunks", "pending_bytes", "pending_chunks",
             "removed_bad", "still_bad", "original_bytes", "disk_bytes", "disk_chunks",
             "dedup_factor", "average_chunk_bytes", "cache_hits", "cache_misses")
#: Worker types whose per-task log the collector reads.
LOG_TYPES = frozenset({"backup", "garbage_collection"}) | VERIFY_TYPES | SYNC_TYPES


def _empty() -> dict[str, dict[str, Any]]:
    return {k: {} for k in ("tasks", "backup", "backup_last", "gc", "verify", "sync")}


class TaskStats:
    """Counters and last-run values folded from finished tasks."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = _empty()
        if data:
            for key in self.data:
                self.data[key] = dict(data.get(key, {}))
        for rec in self.data["gc"].values():  # state written before the GC fields had names
            for old, new in (("removed", "removed_bytes"), ("pending", "pending_bytes"),
                             ("dedup", "dedup_factor")):
                if old in rec:
                    rec[new] = rec.pop(old)

    def add(self, line: ArchiveLine, log: TaskLog | None) -> None:
        """Fold one finished task in (its log is None when it was not read or is gone)."""
        wtype = line.upid.worker_type
        key = SEP.join((wtype, line.status))
        self.data["tasks"][key] = self.data["tasks"].get(key, 0) + 1
        if log is None:
            return
        if wtype == "backup":
            self._add_backup(line, log)
        elif wtype == "garbage_collection":
            self._add_gc(line, log)
        elif wtype in VERIFY_TYPES:
            self._add_verify(line, log)
        elif wtype in SYNC_TYPES:
            self._add_sync(line, log)

    def _add_backup(self, line: ArchiveLine, log: TaskLog) -> None:
        store, _, group = line.upid.worker_id.partition(":")
        btype, _, bid = group.partition("/")
        # PBS names the namespace only in its "starting new backup" line; logs of other
        # writers (pbs-plus) have none: their archives count under the root namespace.
        namespace = log.namespace if log.namespace is not None else "" if log.uploads else None
        if not bid or namespace is None:
            return  # not a backup worker id we understand, or nothing to place
        key = SEP.join((store, namespace, btype, bid))
        logical = sum(u.size for u in log.uploads)
        sums = [logical, sum(u.uploaded for u in log.uploads), sum(u.chunks for u in log.uploads),
                sum(u.client_dups for u in log.uploads), sum(u.server_dups for u in log.uploads)]
        old = self.data["backup"].get(key, [0] * 5)
        self.data["backup"][key] = [a + b for a, b in zip(old, sums, strict=True)]
        last = self.data["backup_last"].get(key)
        if last is None or line.endtime >= last["end"]:
            duration = max(line.endtime - line.upid.starttime, 0)
            self.data["backup_last"][key] = {
                "end": line.endtime, "duration": duration, "logical": logical,
                "success": int(line.status != "error"),
            }

    def _add_gc(self, line: ArchiveLine, log: TaskLog) -> None:
        rec = self.data["gc"].setdefault(line.upid.worker_id, {"end": -1, "summary_end": -1})
        if line.endtime >= rec["end"]:
            rec.update(end=line.endtime, duration=max(line.endtime - line.upid.starttime, 0),
                       success=int(line.status != "error"))
        if log.gc.printed() and line.endtime >= rec["summary_end"]:
            rec["summary_end"] = line.endtime
            # a line PBS prints only when its value is not 0 stands for 0 when absent; a value
            # whose line could not be read keeps the one of the last GC that printed it
            values = {name: getattr(log.gc, name) for name in GC_FIELDS}
            if log.gc.removed_bytes is not None:
                for name in ("pending_bytes", "pending_chunks", "removed_bad", "still_bad"):
                    values[name] = 0 if values[name] is None else values[name]
            rec.update({name: v for name, v in values.items() if v is not None})

    def _add_verify(self, line: ArchiveLine, log: TaskLog) -> None:
        store = line.upid.datastore
        rec = self.data["verify"].setdefault(
            store, {"read": 0, "decoded": 0, "seconds": 0.0, "errors": 0, "end": -1})
        for result, n in (("ok", log.verify_ok), ("failed", log.verify_failed),
                          ("skipped", log.verify_skipped)):
            rec[f"snapshots_{result}"] = rec.get(f"snapshots_{result}", 0) + n
        rec["read"] += log.verify_read_bytes
        rec["decoded"] += log.verify_decoded_bytes
        rec["seconds"] += log.verify_seconds
        rec["errors"] += log.verify_errors
        if line.endtime >= rec["end"]:
            rec.update(end=line.endtime, success=int(line.status != "error"))
            if log.verify_seconds > 0:
                rec["throughput"] = log.verify_decoded_bytes / log.verify_seconds

    def _add_sync(self, line: ArchiveLine, log: TaskLog) -> None:
        parts = line.upid.worker_id.split(":")
        job = parts[4] if len(parts) >= 5 else ""
        key = SEP.join((line.upid.datastore, job))
        rec = self.data["sync"].setdefault(key, {"bytes": 0, "chunks": 0, "end": -1})
        rec["bytes"] += log.sync_bytes or 0
        rec["chunks"] += log.sync_chunks or 0
        if line.endtime >= rec["end"]:
            rec.update(end=line.endtime, success=int(line.status != "error"))
            if log.sync_rate is not None:
                rec["throughput"] = log.sync_rate

    def families(self) -> list[Metric]:
        """All metric families, in a stable order."""
        return [*self._task_families(), *self._backup_families(), *self._gc_families(),
                *self._verify_families(), *self._sync_families()]

    def _task_families(self) -> list[Metric]:
        fam = CounterMetricFamily("pbs_tasks", "Finished PBS tasks by worker type and status.",
                                  labels=["worker_type", "status"])
        for key, n in sorted(self.data["tasks"].items()):
            fam.add_metric(key.split(SEP), n)
        return [fam]

    def _backup_families(self) -> list[Metric]:
        c = [CounterMetricFamily(f"pbs_backup_{name}", help_, labels=BACKUP_LABELS)
             for name, help_ in (
                 ("logical_bytes", "Logical bytes of finished backups (sum of archive sizes)."),
                 ("uploaded_bytes", "Bytes the clients uploaded (uncompressed)."),
                 ("chunks", "Chunks referenced by the archives of finished backups."))]
        dups = CounterMetricFamily(
            "pbs_backup_duplicate_chunks",
            "Chunks not stored again: known to the client from the previous snapshot (client) "
            "or uploaded but already in the chunk store (server).",
            labels=[*BACKUP_LABELS, "side"])
        for key, vals in sorted(self.data["backup"].items()):
            labels = key.split(SEP)
            for fam, val in zip(c, vals[:3], strict=True):
                fam.add_metric(labels, val)
            dups.add_metric([*labels, "client"], vals[3])
            dups.add_metric([*labels, "server"], vals[4])
        g = {name: GaugeMetricFamily(f"pbs_backup_last_{name}", help_, labels=BACKUP_LABELS)
             for name, help_ in (
                 ("duration_seconds", "Duration of the group's last finished backup task."),
                 ("throughput_bytes_per_second",
                  "Logical bytes per second of the last backup (under 1 s counts as 1 s)."),
                 ("end_timestamp_seconds", "End time of the group's last finished backup task."),
                 ("success", "1 if the group's last backup task succeeded (OK or warnings)."))}
        for key, rec in sorted(self.data["backup_last"].items()):
            labels = key.split(SEP)
            g["duration_seconds"].add_metric(labels, rec["duration"])
            g["throughput_bytes_per_second"].add_metric(labels,
                                                        rec["logical"] / max(rec["duration"], 1))
            g["end_timestamp_seconds"].add_metric(labels, rec["end"])
            g["success"].add_metric(labels, rec["success"])
        return [*c, dups, *g.values()]

    def _gc_families(self) -> list[Metric]:
        spec = (
            ("removed_bytes", "removed_bytes", "Bytes removed by the last GC that swept."),
            ("removed_chunks", "removed_chunks", "Chunks removed by the last GC that swept."),
            ("pending_bytes", "pending_bytes", "Bytes the last GC kept only for safety."),
            ("pending_chunks", "pending_chunks", "Chunks the last GC kept only for safety."),
            ("removed_bad_chunks", "removed_bad", "Bad (.bad) chunks the last GC removed."),
            ("still_bad_chunks", "still_bad", "Bad (.bad) chunks the last GC left over."),
            ("original_data_bytes", "original_bytes",
             "Logical bytes referenced by all index files (\"Original data usage\")."),
            ("disk_bytes", "disk_bytes", "Bytes of the chunks in use on disk (\"On-Disk usage\")."),
            ("disk_chunks", "disk_chunks", "Chunks in use on disk (\"On-Disk chunks\")."),
            ("average_chunk_bytes", "average_chunk_bytes", "Average on-disk size of a chunk."),
            ("dedup_factor", "dedup_factor", "Deduplication factor logged by the last GC."),
            ("chunk_cache_hits", "cache_hits",
             "Chunk digest cache hits of the last GC's mark phase (PBS 4)."),
            ("chunk_cache_misses", "cache_misses",
             "Chunk digest cache misses of the last GC's mark phase (PBS 4)."),
            ("duration_seconds", "duration", "Duration of the last GC task."),
            ("end_timestamp_seconds", "end", "End time of the last GC task."),
            ("success", "success", "1 if the last GC task succeeded."))
        out: list[Metric] = []
        for name, field, help_ in spec:
            fam = GaugeMetricFamily(f"pbs_gc_last_{name}", help_, labels=["datastore"])
            for store, rec in sorted(self.data["gc"].items()):
                if rec.get(field) is not None and rec.get("end", -1) >= 0:
                    fam.add_metric([store], rec[field])
            out.append(fam)
        return out

    def _verify_families(self) -> list[Metric]:
        lab = ["datastore"]
        fams: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
            "read": CounterMetricFamily("pbs_verify_read_bytes", "Bytes read by verify tasks.",
                                        labels=lab),
            "decoded": CounterMetricFamily("pbs_verify_decoded_bytes",
                                           "Bytes decoded (logical) by verify tasks.", labels=lab),
            "seconds": CounterMetricFamily("pbs_verify_duration_seconds",
                                           "Seconds spent verifying, from the summary lines.",
                                           labels=lab),
            "errors": CounterMetricFamily("pbs_verify_errors",
                                          "Chunk errors found by verify tasks.", labels=lab),
            "throughput": GaugeMetricFamily("pbs_verify_last_throughput_bytes_per_second",
                                            "Decoded bytes per second of the last verify task.",
                                            labels=lab),
            "end": GaugeMetricFamily("pbs_verify_last_end_timestamp_seconds",
                                     "End time of the last verify task.", labels=lab),
            "success": GaugeMetricFamily("pbs_verify_last_success",
                                         "1 if the last verify task succeeded.", labels=lab),
        }
        snapshots = CounterMetricFamily(
            "pbs_verify_snapshots", "Snapshots verified by verify tasks, by outcome: ok, failed "
            "(an archive or the manifest did not verify), skipped (recently verified, gone or "
            "locked).", labels=[*lab, "result"])
        for store, rec in sorted(self.data["verify"].items()):
            for field, fam in fams.items():
                if field in rec:
                    fam.add_metric([store], rec[field])
            for result in ("ok", "failed", "skipped"):
                snapshots.add_metric([store, result], rec.get(f"snapshots_{result}", 0))
        return [*fams.values(), snapshots]

    def _sync_families(self) -> list[Metric]:
        lab = ["datastore", "job_id"]
        fams: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
            "bytes": CounterMetricFamily("pbs_sync_pulled_bytes", "Bytes pulled by sync jobs.",
                                         labels=lab),
            "chunks": CounterMetricFamily("pbs_sync_pulled_chunks", "Chunks pulled by sync jobs.",
                                          labels=lab),
            "throughput": GaugeMetricFamily("pbs_sync_last_throughput_bytes_per_second",
                                            "Average rate of the last sync that pulled data.",
                                            labels=lab),
            "end": GaugeMetricFamily("pbs_sync_last_end_timestamp_seconds",
                                     "End time of the last sync task.", labels=lab),
            "success": GaugeMetricFamily("pbs_sync_last_success",
                                         "1 if the last sync task succeeded.", labels=lab),
        }
        for key, rec in sorted(self.data["sync"].items()):
            for field, fam in fams.items():
                if field in rec:
                    fam.add_metric(key.split(SEP), rec[field])
        return list(fams.values())
