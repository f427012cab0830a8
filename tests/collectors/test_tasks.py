"""The tasks collector on the scenario tree: values, incremental reads, rotation, restarts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from lab.pbs_tasks import Archive, Task, TaskTree, backup_lines, make_upid, rotate
from lab.pbs_tree import BIG_PSTART, CT101_CATALOG, CT101_ROOT, DAY, T0, VM100_DISK
from pbs_agent.collectors.base import CollectContext
from pbs_agent.collectors.tasks import STATE_FILE, TasksCollector
from pbs_agent.errors import SourceError
from pbs_agent.host import Settings

from .conftest import collect, value

VM100 = {"datastore": "store1", "namespace": "", "backup_type": "vm", "backup_id": "100"}
CT101 = {"datastore": "store1", "namespace": "prod/web", "backup_type": "ct", "backup_id": "101"}


def test_backup_counters_from_upload_statistics(settings: Settings) -> None:
    smp, ctx = collect(TasksCollector(), settings)
    # vm/100 backed up twice (once by a process with a 9-hex-digit pstart, log dir "89")
    assert value(smp, "pbs_backup_logical_bytes_total", **VM100) == 2 * VM100_DISK.size
    assert value(smp, "pbs_backup_uploaded_bytes_total", **VM100) == 2 * VM100_DISK.upload_size
    assert value(smp, "pbs_backup_chunks_total", **VM100) == 2 * VM100_DISK.chunks
    client = VM100_DISK.chunks - VM100_DISK.uploaded_chunks
    assert value(smp, "pbs_backup_duplicate_chunks_total", side="client", **VM100) == 2 * client
    assert value(smp, "pbs_backup_duplicate_chunks_total", side="server", **VM100) == 24
    # namespace from the "starting new backup" line, two archives summed
    assert value(smp, "pbs_backup_logical_bytes_total", **CT101) == (
        CT101_ROOT.size + CT101_CATALOG.size)
    assert ctx.parse_errors == 2  # the two malformed archive lines
    assert BIG_PSTART > 0xFFFFFFFF


def test_last_backup_gauges(settings: Settings) -> None:
    smp, _ = collect(TasksCollector(), settings)
    assert value(smp, "pbs_backup_last_duration_seconds", **VM100) == 600
    assert value(smp, "pbs_backup_last_end_timestamp_seconds", **VM100) == T0 + DAY + 600
    assert value(smp, "pbs_backup_last_throughput_bytes_per_second", **VM100) == pytest.approx(
        VM100_DISK.size / 600)
    assert value(smp, "pbs_backup_last_success", **VM100) == 1
    failed = {**VM100, "backup_id": "102"}
    assert value(smp, "pbs_backup_last_success", **failed) == 0
    host = {"datastore": "store2", "namespace": "", "backup_type": "host",
            "backup_id": "my-host.example"}
    assert value(smp, "pbs_backup_last_success", **host) == 1  # WARNINGS still a backup


def test_task_totals_running_gc_verify_sync(settings: Settings) -> None:
    smp, _ = collect(TasksCollector(), settings)
    assert value(smp, "pbs_tasks_total", worker_type="backup", status="ok") == 3
    assert value(smp, "pbs_tasks_total", worker_type="backup", status="warning") == 1
    assert value(smp, "pbs_tasks_total", worker_type="backup", status="error") == 1
    assert value(smp, "pbs_tasks_total", worker_type="aptupdate", status="ok") == 1
    assert value(smp, "pbs_tasks_running", worker_type="backup") == 1
    assert value(smp, "pbs_gc_last_removed_bytes", datastore="store1") == 3 << 29
    assert value(smp, "pbs_gc_last_pending_bytes", datastore="store1") == 300 << 20
    assert value(smp, "pbs_gc_last_dedup_factor", datastore="store1") == 25.13
    assert value(smp, "pbs_gc_last_duration_seconds", datastore="store1") == 3600
    assert value(smp, "pbs_gc_last_success", datastore="store1") == 1
    # store2: the newest GC failed to start; sizes stay those of the last GC that swept
    assert value(smp, "pbs_gc_last_success", datastore="store2") == 0
    assert value(smp, "pbs_gc_last_end_timestamp_seconds", datastore="store2") == T0 + 2 * DAY + 201
    assert value(smp, "pbs_gc_last_removed_bytes", datastore="store2") == 0
    assert value(smp, "pbs_verify_decoded_bytes_total", datastore="store1") == 5 << 30
    assert value(smp, "pbs_verify_errors_total", datastore="store1") == 1
    assert value(smp, "pbs_verify_last_throughput_bytes_per_second", datastore="store1") == (
        (5 << 30) / 20)
    job = {"datastore": "store1", "job_id": "s-remote1"}
    assert value(smp, "pbs_sync_pulled_bytes_total", **job) == 5 << 28
    assert value(smp, "pbs_sync_pulled_chunks_total", **job) == 420
    assert value(smp, "pbs_sync_last_throughput_bytes_per_second", **job) == round(52.4 * 2**20)


def _new_backup(tasks_dir: Path, start: int, bid: str = "100") -> None:
    task = Task(make_upid(start, "backup", f"store1:vm/{bid}", task_id=start), start, start + 60,
                "OK", backup_lines("store1", "", "vm", bid, "2024-06-09T00:00:00Z",
                                   [Archive("drive-scsi0.img.fidx", 1000, 4, 1, 250)]))
    TaskTree().write_log(tasks_dir, task)
    with open(tasks_dir / "archive", "a") as fh:
        fh.write(TaskTree.archive_line(task))


def test_incremental_restart_and_rotation_never_double_count(settings: Settings) -> None:
    tasks_dir = settings.log_dir / "tasks"
    smp, _ = collect(TasksCollector(), settings)
    base = value(smp, "pbs_backup_logical_bytes_total", **VM100)
    # nothing new: same values, same collector
    col = TasksCollector()
    assert collect(col, settings)[0] == smp
    # a new backup is appended: counted once
    _new_backup(tasks_dir, T0 + 4 * DAY)
    smp2, _ = collect(col, settings)
    assert value(smp2, "pbs_backup_logical_bytes_total", **VM100) == base + 1000
    # restart (fresh collector, state from disk): nothing counted twice
    smp3, _ = collect(TasksCollector(), settings)
    assert value(smp3, "pbs_backup_logical_bytes_total", **VM100) == base + 1000
    # rotation: archive -> archive.1, archive.1 -> archive.2.zst (re-compressed, new inode)
    rotate(tasks_dir)
    rotate(tasks_dir)
    assert (tasks_dir / "archive.3.zst").exists()
    smp4, _ = collect(TasksCollector(), settings)
    assert smp4 == smp3
    _new_backup(tasks_dir, T0 + 5 * DAY)
    smp5, _ = collect(TasksCollector(), settings)
    assert value(smp5, "pbs_backup_logical_bytes_total", **VM100) == base + 2000
    assert value(smp5, "pbs_tasks_total", worker_type="backup", status="ok") == 5


def test_partial_line_is_read_when_complete(settings: Settings) -> None:
    tasks_dir = settings.log_dir / "tasks"
    col = TasksCollector()
    collect(col, settings)
    task_start = T0 + 4 * DAY
    _new_backup(tasks_dir, task_start)
    text = (tasks_dir / "archive").read_text()
    last = text.splitlines()[-1]
    (tasks_dir / "archive").write_text(text[: -len(last) - 1] + last[:30])  # half written
    before, _ = collect(col, settings)
    with open(tasks_dir / "archive", "a") as fh:
        fh.write(last[30:] + "\n")
    after, _ = collect(col, settings)
    ok = {"worker_type": "backup", "status": "ok"}
    assert value(after, "pbs_tasks_total", **ok) == value(before, "pbs_tasks_total", **ok) + 1


def test_state_file_persisted_and_bounded(settings: Settings) -> None:
    collect(TasksCollector(), settings)
    state = json.loads((settings.state_dir / STATE_FILE).read_text())
    assert state["log_dir"] == str(settings.log_dir)
    assert len(state["seen"]) == 12  # every finished task of the scenario
    _new_backup(settings.log_dir / "tasks", T0 + 30 * DAY)
    collect(TasksCollector(), settings)
    state = json.loads((settings.state_dir / STATE_FILE).read_text())
    assert len(state["seen"]) == 1  # older UPIDs dropped: the window is 3 days
    assert state["stats"]["tasks"]["backup\x1fok"] == 4


def test_corrupt_state_is_counted_and_rebuilt(settings: Settings) -> None:
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / STATE_FILE).write_text("{broken")
    smp, ctx = collect(TasksCollector(), settings)
    assert ctx.parse_errors == 3  # state file + two malformed archive lines
    assert value(smp, "pbs_tasks_total", worker_type="backup", status="ok") == 3


def test_corrupt_zst_archive_is_a_parse_error(settings: Settings) -> None:
    (settings.log_dir / "tasks" / "archive.2.zst").write_bytes(b"not zstd at all")
    smp, ctx = collect(TasksCollector(), settings)
    assert ctx.parse_errors == 3
    # the two oldest tasks are gone with it; the rest is still counted
    assert value(smp, "pbs_tasks_total", worker_type="backup", status="ok") == 2


def test_missing_task_log_still_counts_the_task(settings: Settings) -> None:
    for p in (settings.log_dir / "tasks" / "89").iterdir():
        p.unlink()
    smp, _ = collect(TasksCollector(), settings)
    assert value(smp, "pbs_tasks_total", worker_type="backup", status="ok") == 3
    assert value(smp, "pbs_backup_logical_bytes_total", **VM100) == VM100_DISK.size


def test_no_log_directory_is_a_source_error(tmp_path: Path) -> None:
    s = Settings(log_dir=tmp_path / "nope", state_dir=tmp_path / "state")
    with pytest.raises(SourceError, match="no PBS log directory"):
        list(TasksCollector().collect(CollectContext(s)))


def test_no_task_directory_yet_is_a_state_not_a_failure(tmp_path: Path) -> None:
    """A fresh PBS host has run no task: nothing to count, and the collector says so."""
    (tmp_path / "log").mkdir()
    ctx = CollectContext(Settings(log_dir=tmp_path / "log", state_dir=tmp_path / "state"))
    assert list(TasksCollector().collect(ctx)) == []
    assert ctx.failure is None
    assert ctx.notes == [f"no task log directory yet ({tmp_path / 'log' / 'tasks'}): "
                         "PBS has run no task on this host, nothing to count"]


def test_empty_task_directory_is_noted(tmp_path: Path) -> None:
    """What a fresh PBS host has: the directory its daemons create, no task archive yet."""
    (tmp_path / "log" / "tasks").mkdir(parents=True)
    ctx = CollectContext(Settings(log_dir=tmp_path / "log", state_dir=tmp_path / "state"))
    list(TasksCollector().collect(ctx))
    assert ctx.failure is None
    assert ctx.notes == [f"no task has run on this host yet ({tmp_path / 'log' / 'tasks'} "
                         "holds no task archive): nothing to count"]


def test_task_directory_with_an_archive_has_no_note(settings: Settings) -> None:
    ctx = CollectContext(settings)
    list(TasksCollector().collect(ctx))
    assert ctx.notes == []


def test_task_path_that_is_a_file_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "tasks").write_text("")
    ctx = CollectContext(Settings(log_dir=tmp_path / "log", state_dir=tmp_path / "state"))
    with pytest.raises(SourceError, match="not a directory"):
        list(TasksCollector().collect(ctx))


def test_unwritable_state_dir_keeps_working(settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    s = replace(settings, state_dir=blocker / "sub")
    smp, _ = collect(TasksCollector(), s)
    assert value(smp, "pbs_tasks_total", worker_type="backup", status="ok") == 3
