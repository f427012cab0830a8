"""The ``tasks`` collector: backup throughput, GC, verify and sync results from PBS task logs.

Reads ``<log-dir>/tasks/`` incrementally: new lines of the archive files (``archive``,
``archive.N``, ``archive.N.zst``), the ``active`` file, and the per-task log ``<XX>/<UPID>``
of each newly finished backup, GC, verify or sync task. Counters and last-run values are kept
in ``<state-dir>/tasks-state.json`` so they survive restarts; a task is counted once, by UPID,
however often its line is read (rotation re-compresses old archives). The statistics are
folded by ``pbs_agent.tasks.stats.TaskStats`` (plain data); :func:`stats_families` renders
them here as metric families.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ..errors import FormatError, SourceError
from ..tasks.archive import ArchiveReader
from ..tasks.stats import LOG_TYPES, SEP, TaskStats
from ..tasks.tasklog import ArchiveLine, TaskLog, parse_archive_line, parse_task_log, parse_upid
from .base import CollectContext, Collector

log = logging.getLogger(__name__)

STATE_FILE = "tasks-state.json"
STATE_VERSION = 1
#: UPIDs are remembered this long after the newest end time seen; older lines are ignored.
SEEN_WINDOW = 3 * 86400
MAX_TASK_LOG = 64 << 20
BACKUP_LABELS = ["datastore", "namespace", "backup_type", "backup_id"]
#: ``TaskStats.data``: section -> key (label values joined by ``SEP``) -> value or record.
Data = dict[str, dict[str, Any]]
FamilyType = type[CounterMetricFamily] | type[GaugeMetricFamily]


class IngestState:
    """Read positions, UPIDs already counted, and the folded statistics."""

    def __init__(self, log_dir: str, data: dict[str, Any] | None = None) -> None:
        data = data if data and data.get("log_dir") == log_dir else {}
        self.log_dir = log_dir
        self.positions: dict[str, list[int]] = data.get("positions", {})
        self.seen: dict[str, int] = data.get("seen", {})
        self.high: int = data.get("high", 0)
        self.stats = TaskStats(data.get("stats"))

    def is_new(self, line: ArchiveLine) -> bool:
        return line.upid.raw not in self.seen and line.endtime >= self.high - SEEN_WINDOW

    def mark(self, line: ArchiveLine) -> None:
        self.seen[line.upid.raw] = line.endtime
        self.high = max(self.high, line.endtime)

    def prune(self) -> None:
        cutoff = self.high - SEEN_WINDOW
        self.seen = {u: t for u, t in self.seen.items() if t >= cutoff}

    def as_dict(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "log_dir": self.log_dir, "positions": self.positions,
                "seen": self.seen, "high": self.high, "stats": self.stats.data}


class TasksCollector(Collector):
    """Task counts, backup throughput and GC/verify/sync results from the task logs."""

    name = "tasks"
    interval = 30.0

    def __init__(self) -> None:
        self._state: IngestState | None = None

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        log_dir = ctx.settings.log_dir
        tasks_dir = log_dir / "tasks"
        if not log_dir.is_dir():
            raise SourceError(str(log_dir), "no PBS log directory (is proxmox-backup-server "
                                            "installed? see --pbs.log-dir)")
        if not tasks_dir.exists():
            ctx.note(f"no task log directory yet ({tasks_dir}): PBS has run no task on this "
                     "host, nothing to count")
            return []
        if not tasks_dir.is_dir():
            raise SourceError(str(tasks_dir), "not a directory")
        if not any(p.name == "active" or p.name.startswith("archive")
                   for p in tasks_dir.iterdir()):
            ctx.note(f"no task has run on this host yet ({tasks_dir} holds no task archive): "
                     "nothing to count")
        state = self._load(ctx)
        reader = ArchiveReader(tasks_dir, state.positions)
        changed = False
        for text in reader.new_lines():
            changed |= self._ingest(ctx, tasks_dir, state, text)
        running, active_changed = self._read_active(ctx, tasks_dir, state)
        if changed or active_changed or reader.errors:
            state.prune()
            self._save(ctx, state)
        for exc in reader.errors:
            if isinstance(exc, FormatError):
                ctx.parse_error(str(exc))
            else:
                raise exc
        return [*stats_families(state.stats), running]

    def _ingest(self, ctx: CollectContext, tasks_dir: Path, state: IngestState, text: str) -> bool:
        """Count one archive-format line if it is new; True if the state changed."""
        try:
            line = parse_archive_line(text)
        except FormatError as exc:
            ctx.parse_error(str(exc))
            return False
        if not state.is_new(line):
            return False
        state.mark(line)
        task_log = None
        if line.upid.worker_type in LOG_TYPES:
            task_log = self._read_log(ctx, tasks_dir, line)
        state.stats.add(line, task_log)
        return True

    @staticmethod
    def _read_log(ctx: CollectContext, tasks_dir: Path, line: ArchiveLine) -> TaskLog | None:
        path = tasks_dir / line.upid.log_subdir / line.upid.raw
        try:
            with open(path, "rb") as fh:  # size first: read(64 MiB) would allocate that much
                data = fh.read(min(os.fstat(fh.fileno()).st_size, MAX_TASK_LOG))
        except OSError:
            return None  # removed by task-log-max-days, or unreadable: counted without details
        parsed = parse_task_log(data.decode("utf-8", errors="replace"))
        for _ in range(parsed.bad_lines):
            ctx.parse_error(f"{path}: malformed line")
        return parsed

    def _read_active(self, ctx: CollectContext, tasks_dir: Path,
                     state: IngestState) -> tuple[Metric, bool]:
        """Running tasks per worker type; finished lines found in ``active`` are counted too."""
        fam = GaugeMetricFamily("pbs_tasks_running", "PBS tasks running now, by worker type.",
                                labels=["worker_type"])
        try:
            text = (tasks_dir / "active").read_text(errors="replace")
        except OSError:
            return fam, False  # no active file: nothing runs
        running: dict[str, int] = {}
        changed = False
        for raw in text.splitlines():
            if " " in raw.strip():
                changed |= self._ingest(ctx, tasks_dir, state, raw)
            elif raw.strip():
                try:
                    upid = parse_upid(raw.strip())
                except FormatError as exc:
                    ctx.parse_error(str(exc))
                    continue
                running[upid.worker_type] = running.get(upid.worker_type, 0) + 1
        for wtype, n in sorted(running.items()):
            fam.add_metric([wtype], n)
        return fam, changed

    def _state_path(self, ctx: CollectContext) -> Path:
        return ctx.settings.state_dir / STATE_FILE

    def _load(self, ctx: CollectContext) -> IngestState:
        log_dir = str(ctx.settings.log_dir)
        if self._state is not None and self._state.log_dir == log_dir:
            return self._state
        path = self._state_path(ctx)
        data = None
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            ctx.parse_error(f"{path}: {exc}")
            log.warning("tasks: ignoring unreadable state %s: %s", path, exc)
        self._state = IngestState(log_dir, data if isinstance(data, dict) else None)
        return self._state

    def _save(self, ctx: CollectContext, state: IngestState) -> None:
        path = self._state_path(ctx)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(state.as_dict(), separators=(",", ":")))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("tasks: cannot save state to %s: %s (counters restart with the agent)",
                        path, exc)


def stats_families(stats: TaskStats) -> list[Metric]:
    """The metric families of the folded task statistics, in a stable order."""
    data = stats.data
    return [*_task_families(data), *_backup_families(data), *_gc_families(data),
            *_verify_families(data), *_sync_families(data)]


def _task_families(data: Data) -> list[Metric]:
    fam = CounterMetricFamily("pbs_tasks", "Finished PBS tasks by worker type and status.",
                              labels=["worker_type", "status"])
    for key, n in sorted(data["tasks"].items()):
        fam.add_metric(key.split(SEP), n)
    return [fam]


def _backup_families(data: Data) -> list[Metric]:
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
    for key, vals in sorted(data["backup"].items()):
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
    for key, rec in sorted(data["backup_last"].items()):
        labels = key.split(SEP)
        g["duration_seconds"].add_metric(labels, rec["duration"])
        g["throughput_bytes_per_second"].add_metric(labels,
                                                    rec["logical"] / max(rec["duration"], 1))
        g["end_timestamp_seconds"].add_metric(labels, rec["end"])
        g["success"].add_metric(labels, rec["success"])
    return [*c, dups, *g.values()]


def _gc_families(data: Data) -> list[Metric]:
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
        for store, rec in sorted(data["gc"].items()):
            if rec.get(field) is not None and rec.get("end", -1) >= 0:
                fam.add_metric([store], rec[field])
        out.append(fam)
    return out


def _verify_families(data: Data) -> list[Metric]:
    lab = ["datastore"]
    rows = [([store], rec) for store, rec in sorted(data["verify"].items())]
    fams = _record_families(lab, rows, (
        ("read", CounterMetricFamily, "pbs_verify_read_bytes", "Bytes read by verify tasks."),
        ("decoded", CounterMetricFamily, "pbs_verify_decoded_bytes",
         "Bytes decoded (logical) by verify tasks."),
        ("seconds", CounterMetricFamily, "pbs_verify_duration_seconds",
         "Seconds spent verifying, from the summary lines."),
        ("errors", CounterMetricFamily, "pbs_verify_errors", "Chunk errors found by verify tasks."),
        ("throughput", GaugeMetricFamily, "pbs_verify_last_throughput_bytes_per_second",
         "Decoded bytes per second of the last verify task."),
        ("end", GaugeMetricFamily, "pbs_verify_last_end_timestamp_seconds",
         "End time of the last verify task."),
        ("success", GaugeMetricFamily, "pbs_verify_last_success",
         "1 if the last verify task succeeded.")))
    snapshots = CounterMetricFamily(
        "pbs_verify_snapshots", "Snapshots verified by verify tasks, by outcome: ok, failed "
        "(an archive or the manifest did not verify), skipped (recently verified, gone or "
        "locked).", labels=[*lab, "result"])
    for labels, rec in rows:
        for result in ("ok", "failed", "skipped"):
            snapshots.add_metric([*labels, result], rec.get(f"snapshots_{result}", 0))
    return [*fams, snapshots]


def _sync_families(data: Data) -> list[Metric]:
    rows = [(key.split(SEP), rec) for key, rec in sorted(data["sync"].items())]
    return _record_families(["datastore", "job_id"], rows, (
        ("bytes", CounterMetricFamily, "pbs_sync_pulled_bytes", "Bytes pulled by sync jobs."),
        ("chunks", CounterMetricFamily, "pbs_sync_pulled_chunks", "Chunks pulled by sync jobs."),
        ("throughput", GaugeMetricFamily, "pbs_sync_last_throughput_bytes_per_second",
         "Average rate of the last sync that pulled data."),
        ("end", GaugeMetricFamily, "pbs_sync_last_end_timestamp_seconds",
         "End time of the last sync task."),
        ("success", GaugeMetricFamily, "pbs_sync_last_success",
         "1 if the last sync task succeeded.")))


def _record_families(labelnames: list[str], rows: list[tuple[list[str], dict[str, Any]]],
                     spec: tuple[tuple[str, FamilyType, str, str], ...]) -> list[Metric]:
    """One family per ``(field, type, name, help)``; each row's record adds its label values
    and value to the families of the fields it holds."""
    out: list[Metric] = []
    for field, kind, name, help_ in spec:
        fam = kind(name, help_, labels=labelnames)
        for labels, rec in rows:
            if field in rec:
                fam.add_metric(labels, rec[field])
        out.append(fam)
    return out
