"""What the tasks collector remembers: counters and last-run values, as plain JSON data.

:class:`TaskStats` folds finished tasks (archive line + parsed task log) into counters
(``pbs_backup_*_total``, ``pbs_tasks_total`` …) and last-run values. Its ``data`` dict is
what the collector persists in the state directory, so counters survive restarts, and what
``pbs_agent.collectors.tasks`` renders as metric families (keys of several labels are joined
with :data:`SEP`). Plain data: no prometheus_client here.
"""

from __future__ import annotations

from typing import Any

from .tasklog import ArchiveLine, TaskLog

#: Joins the label values of a key in ``data`` (datastore, namespace, type, id …).
SEP = "\x1f"
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
