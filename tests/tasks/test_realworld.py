"""Task logs of real PBS 3/4 hosts and of pbs-plus (fixtures/realworld, each with a .source):
the parser reads every summary they print, and a PBS task directory built from them gives the
values with no parse error counted."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab.pbs_tasks import make_upid
from pbs_agent.exporter.registry import create_collectors
from pbs_agent.exporter.runner import Runner
from pbs_agent.host import Settings
from pbs_agent.tasks.tasklog import parse_human_bytes, parse_task_log

REAL = Path(__file__).parent / "fixtures" / "realworld"
GiB, MiB, KiB = 1 << 30, 1 << 20, 1 << 10


def _log(name: str):  # type: ignore[no-untyped-def]
    return parse_task_log((REAL / name).read_text())


def test_pbs4_gc_summary_with_chunk_cache() -> None:
    log = _log("pbs4-gc-summary.log")
    gc = log.gc
    assert log.bad_lines == 0 and log.result == "OK"
    assert (gc.removed_bytes, gc.removed_chunks) == (0, 0)
    assert gc.original_bytes == round(8.461 * (1 << 40))
    assert gc.disk_bytes == round(994.524 * GiB) and gc.disk_chunks == 630236
    assert gc.dedup_factor == 8.71 and gc.average_chunk_bytes == round(1.616 * MiB)
    assert (gc.cache_hits, gc.cache_misses) == (1588013, 630236)
    assert (gc.pending_bytes, gc.removed_bad, gc.still_bad) == (None, None, None)  # not printed


def test_pbs4_gc_commit_example() -> None:
    log = _log("pbs4-gc-commit-example.log")
    assert log.bad_lines == 0 and log.result is None  # the example stops before TASK OK
    assert (log.gc.cache_hits, log.gc.cache_misses, log.gc.disk_chunks) == (15817, 873, 874)
    assert log.gc.original_bytes == round(64.961 * GiB)


def test_annotated_gc_line_does_not_poison_the_rest() -> None:
    """A line someone annotated (as in a public incident write-up: "Removed garbage: 0 B
    ← 直後の再実行") is one bad line; every other summary value is still read."""
    text = (REAL / "pbs4-gc-summary.log").read_text().replace(
        "Removed garbage: 0 B\n", "Removed garbage: 0 B      ← 直後の再実行。もう無い\n")
    log = parse_task_log(text)
    assert log.bad_lines == 1 and log.gc.removed_bytes is None
    assert log.gc.disk_chunks == 630236 and log.gc.dedup_factor == 8.71 and log.result == "OK"


def test_pbs4_verify_per_snapshot_outcomes() -> None:
    log = _log("pbs4-verify.log")
    assert log.bad_lines == 0
    assert (log.verify_ok, log.verify_failed, log.verify_skipped) == (1, 1, 1)
    assert log.verify_errors == 1
    assert log.verify_decoded_bytes == round((2034.11 + 1.93 + 1024.0) * MiB)
    assert log.result == "ERROR: verification failed - please check the log for details"


@pytest.mark.parametrize(("line", "outcome"), [
    ("verify store1:ns/prod/vm/100/2024-06-05T08:00:01Z", (1, 0, 0)),
    ("verify store1:vm/100/2024-06-05T08:00:01Z - manifest load error: EIO", (0, 1, 0)),
    ("SKIPPED: verify store1:vm/100/2024-06-05T08:00:01Z - snapshot does not exist (anymore).",
     (0, 0, 1)),
    ("SKIPPED: verify store1:ct/101/2024-06-05T08:00:01Z - could not acquire snapshot lock: "
     "EWOULDBLOCK", (0, 0, 1)),
    ("verify datastore store1", (0, 0, 0)),
    ("verify group store1:vm/100 (3 snapshots)", (0, 0, 0)),
])
def test_verify_line_kinds(line: str, outcome: tuple[int, int, int]) -> None:
    log = parse_task_log(f"2024-06-05T05:00:00+02:00: {line}\n")
    assert (log.verify_ok, log.verify_failed, log.verify_skipped) == outcome
    assert log.bad_lines == 0


def test_two_failed_archives_are_one_failed_snapshot() -> None:
    snap = "store1:vm/100/2024-06-05T08:00:01Z"
    log = parse_task_log("".join(f"2024-06-05T05:00:00+02:00: {m}\n" for m in (
        f"verify {snap}",
        f"verify {snap}/drive-scsi0.img.fidx failed: chunks could not be verified",
        f"verify {snap}/drive-scsi1.img.fidx failed: chunks could not be verified")))
    assert (log.verify_ok, log.verify_failed) == (0, 1)


def test_pbs3_backup_upload_statistics() -> None:
    log = _log("pbs3-backup.log")
    assert log.bad_lines == 0 and log.namespace == "prod" and log.result == "OK"
    [up] = log.uploads
    assert (up.archive, up.size, up.chunks, up.uploaded) == (
        "drive-scsi0.img.fidx", 34359738368, 8192, 1077936128)
    assert (up.client_dups, up.server_dups) == (7935, 4)


def test_pbs3_sync_summary() -> None:
    log = _log("pbs3-sync.log")
    assert log.bad_lines == 0
    assert log.sync_bytes == round(214.445 * MiB) and log.sync_chunks == 166
    assert log.sync_rate == round(111.012 * MiB)


def test_sync_nan_rate_means_nothing_pulled() -> None:
    log = _log("pbs3-sync-nan.log")
    assert log.bad_lines == 0
    assert (log.sync_bytes, log.sync_chunks, log.sync_rate) == (0, 0, None)


def test_pbs4_push_summary_and_nothing_to_push() -> None:
    """src/server/sync.rs (4.x): "Summary: sync job {pulled|pushed} …", "found no new data to
    {pull|push}"."""
    pushed = parse_task_log("2026-01-01T00:00:00Z: Summary: sync job pushed 1.5 GiB in 400 "
                            "chunks (average rate: 20 MiB/s)\n")
    assert (pushed.sync_bytes, pushed.sync_chunks) == (3 << 29, 400)
    nothing = parse_task_log("2026-01-01T00:00:00Z: Summary: sync job found no new data to push\n")
    assert (nothing.sync_bytes, nothing.sync_chunks, nothing.bad_lines) == (0, 0, 0)


def test_pbs_plus_client_lines_and_doubled_timestamp() -> None:
    log = _log("pbs-plus-backup-error.log")
    assert log.bad_lines == 0
    assert log.result == 'ERROR: upload failed: error at "proc/2336/fdinfo"'
    [up] = log.uploads
    assert (up.archive, up.size, up.uploaded) == (
        "guinea-pig---Root.mpxar", round(12.48 * MiB), round(12.48 * MiB))


@pytest.mark.parametrize("line", [
    # 3.2.4 pbs-client/src/backup_writer.rs
    "root.pxar: had to backup 4 MiB of 10.943 GiB (compressed 159 B) in 49.30s",
    # the 2024 rewording quoted in commit 7401be7e9 ("make backup info output more concise")
    "data.ppxar: had to back up 4 MiB of 10.943 GiB (159 B compressed) in 49.30 s "
    "(average 83.09 KiB/s)",
])
def test_client_upload_line_wordings(line: str) -> None:
    log = parse_task_log(f"2024-06-05T02:00:00+02:00: {line}\n")
    assert [(u.size, u.uploaded) for u in log.uploads] == [
        (parse_human_bytes("10.943 GiB"), 4 * MiB)]


def _write(tasks: Path, upid: str, text: str, end: int, status: str) -> str:
    pstart = int(upid.split(":")[3], 16)
    (tasks / f"{pstart & 255:02X}").mkdir(parents=True, exist_ok=True)
    (tasks / f"{pstart & 255:02X}" / upid).write_text(text)
    return f"{upid} {end:08X} {status}\n"


def test_task_tree_of_real_logs_yields_the_values_without_parse_errors(tmp_path: Path) -> None:
    """The issue's acceptance: PBS 4 GC and verify, PBS 3 backup and sync, a NaN sync, a
    pbs-plus backup, in one task directory read by the tasks collector in the runner."""
    tasks = tmp_path / "log" / "tasks"
    tasks.mkdir(parents=True)
    t = 1_780_000_000
    entries = [
        (make_upid(t, "garbage_collection", "Mercury"), "pbs4-gc-summary.log", t + 600, "OK"),
        (make_upid(t + 700, "verificationjob", "Mercury:v-mercury-weekly"), "pbs4-verify.log",
         t + 800, "verification failed - please check the log for details"),
        (make_upid(t + 900, "backup", "store1:vm/100"), "pbs3-backup.log", t + 1000, "OK"),
        (make_upid(t + 1100, "syncjob", "offsite:store1:store2::s-5a1d2b3c-9e8f"),
         "pbs3-sync.log", t + 1102, "OK"),
        (make_upid(t + 1200, "syncjob", "offsite:store1:store2::s-5a1d2b3c-9e8f"),
         "pbs3-sync-nan.log", t + 1200, "OK"),
        (make_upid(t + 1300, "backup", "store1:host/guinea-pig", node="pbsplusgen-error"),
         "pbs-plus-backup-error.log", t + 1569, 'upload failed: error at "proc/2336/fdinfo"'),
    ]
    archive = "".join(_write(tasks, upid, (REAL / name).read_text(), end, status)
                      for upid, name, end, status in entries)
    (tasks / "archive").write_text(archive)
    settings = Settings(log_dir=tmp_path / "log", lib_dir=tmp_path / "lib",
                        config_dir=tmp_path / "etc", state_dir=tmp_path / "state")
    runner = Runner(create_collectors(["tasks"]), settings, clock=lambda: float(t + 2000))
    runner.run_all()
    text = runner.exposition().decode()
    values = {(smp.name, tuple(sorted(smp.labels.items()))): smp.value
              for fam in text_string_to_metric_families(text) for smp in fam.samples}

    def v(name: str, **labels: str) -> float:
        return values[(name, tuple(sorted(labels.items())))]

    assert v("pbs_agent_collector_success", collector="tasks") == 1
    assert v("pbs_agent_parse_errors_total", collector="tasks") == 0
    gc = {"datastore": "Mercury"}
    assert v("pbs_gc_last_removed_chunks", **gc) == 0
    assert v("pbs_gc_last_pending_chunks", **gc) == 0  # no "Pending removals" line: none
    assert v("pbs_gc_last_original_data_bytes", **gc) == round(8.461 * (1 << 40))
    assert v("pbs_gc_last_disk_bytes", **gc) == round(994.524 * GiB)
    assert v("pbs_gc_last_disk_chunks", **gc) == 630236
    assert v("pbs_gc_last_average_chunk_bytes", **gc) == round(1.616 * MiB)
    assert v("pbs_gc_last_removed_bad_chunks", **gc) == 0
    assert v("pbs_gc_last_still_bad_chunks", **gc) == 0
    assert v("pbs_gc_last_dedup_factor", **gc) == 8.71
    assert v("pbs_gc_last_chunk_cache_hits", **gc) == 1588013
    for result in ("ok", "failed", "skipped"):
        assert v("pbs_verify_snapshots_total", datastore="Mercury", result=result) == 1
    vm100 = {"datastore": "store1", "namespace": "prod", "backup_type": "vm", "backup_id": "100"}
    assert v("pbs_backup_logical_bytes_total", **vm100) == 34359738368
    sync = {"datastore": "store2", "job_id": "s-5a1d2b3c-9e8f"}
    assert v("pbs_sync_pulled_bytes_total", **sync) == round(214.445 * MiB)  # NaN run adds 0
    assert v("pbs_sync_pulled_chunks_total", **sync) == 166
    plus = {"datastore": "store1", "namespace": "", "backup_type": "host",
            "backup_id": "guinea-pig"}
    assert v("pbs_backup_logical_bytes_total", **plus) == round(12.48 * MiB)
    assert v("pbs_backup_last_success", **plus) == 0
    assert v("pbs_tasks_total", worker_type="backup", status="error") == 1


def test_state_of_an_older_agent_keeps_its_gc_values() -> None:
    """tasks-state.json written before the GC fields had their names: removed/pending/dedup."""
    from pbs_agent.collectors.tasks import stats_families
    from pbs_agent.tasks.stats import TaskStats

    stats = TaskStats({"gc": {"store1": {"end": 5, "summary_end": 5, "removed": 7,
                                         "pending": 3, "dedup": 2.5, "success": 1}}})
    got = {f.name: [s.value for s in f.samples] for f in stats_families(stats)
           if f.name.startswith("pbs_gc_last_")}
    assert got["pbs_gc_last_removed_bytes"] == [7] and got["pbs_gc_last_dedup_factor"] == [2.5]
    assert got["pbs_gc_last_pending_bytes"] == [3]
