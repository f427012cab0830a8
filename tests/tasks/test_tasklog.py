"""UPIDs, archive lines, HumanByte sizes and task-log summaries (pbs_agent.tasks.tasklog)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import pbs_agent.pbsconfig
import pbs_agent.tasks.tasklog
from lab.pbs_tasks import make_upid, systemd_escape
from pbs_agent.errors import FormatError
from pbs_agent.tasks.tasklog import (
    namespace_of,
    parse_archive_line,
    parse_human_bytes,
    parse_task_log,
    parse_upid,
    systemd_unescape,
)

LOGS = Path(__file__).parent / "fixtures" / "tasklogs"


def test_doctests() -> None:
    for mod in (pbs_agent.tasks.tasklog, pbs_agent.pbsconfig):
        result = doctest.testmod(mod)
        assert result.attempted > 0 and result.failed == 0


def test_upid_reference_example() -> None:
    u = parse_upid("UPID:elsa:00004F37:0039E469:00000000:5CA78B83:garbage_collection::root@pam:")
    assert (u.node, u.pid, u.pstart, u.starttime) == ("elsa", 0x4F37, 0x39E469, 0x5CA78B83)
    assert (u.worker_type, u.worker_id, u.auth_id) == ("garbage_collection", "", "root@pam")
    assert u.log_subdir == "69"


def test_upid_escaped_worker_id_and_long_pstart() -> None:
    u = parse_upid(r"UPID:pbs-2:0000ABCD:123456789:0000000000000001:665FFA00:backup:"
                   r"store1\x3avm-100:sync@pbs!tok:")
    assert u.worker_id == "store1:vm/100"
    assert u.pstart == 0x123456789 and u.log_subdir == "89"
    assert u.datastore == "store1" and u.auth_id == "sync@pbs!tok"


@pytest.mark.parametrize("wid", ["store1:vm/100", "a-b.c:host/my-host.example",
                                 "remote:src:dst:ns/a/b:job-1", ".hidden/x", "ünï:ct/1"])
def test_systemd_escape_roundtrip(wid: str) -> None:
    assert systemd_unescape(systemd_escape(wid)) == wid
    assert parse_upid(make_upid(1, "backup", wid)).worker_id == wid


@pytest.mark.parametrize("bad", [
    "", "UPID:", "UPID:node:1:2:3:4:backup:x:root@pam:",  # short hex fields
    "UPID:n:00000001:00000002:00000003:00000004:backup:x:root@pam",  # no trailing colon
    "UPID:-bad:00000001:00000002:00000003:00000004:backup:x:root@pam:",
    "UPID:n:00000001:1234567890:00000003:00000004:backup:x:root@pam:",  # pstart 10 digits
])
def test_malformed_upids_raise_format_error(bad: str) -> None:
    with pytest.raises(FormatError, match="not a UPID"):
        parse_upid(bad)


def test_archive_lines() -> None:
    up = make_upid(0x665FFA00, "backup", "store1:vm/100")
    ok = parse_archive_line(f"{up} 665FFB2C OK")
    assert (ok.endtime, ok.status) == (0x665FFB2C, "ok")
    assert parse_archive_line(f"{up} 665FFB2C WARNINGS: 3").status == "warning"
    err = parse_archive_line(f"{up} 665FFB2C backup failed: connection reset")
    assert err.status == "error" and err.message == "backup failed: connection reset"
    assert parse_archive_line(f"{up} 665FFB2C unknown").status == "error"
    with pytest.raises(FormatError, match="not hex"):
        parse_archive_line(f"{up} 66XX OK")
    with pytest.raises(FormatError):
        parse_archive_line("just words")


@pytest.mark.parametrize(("text", "expected"), [
    ("0 B", 0), ("812 B", 812), ("4 MiB", 4 << 20), ("1.5 GiB", 3 << 29),
    ("12.345 GiB", round(12.345 * (1 << 30))), ("1.204 TiB", round(1.204 * (1 << 40))),
    ("2.653 MiB", round(2.653 * (1 << 20))), ("1 KB", 1000),
])
def test_human_bytes(text: str, expected: int) -> None:
    assert parse_human_bytes(text) == expected


@pytest.mark.parametrize("bad", ["", "lots", "12 XiB", "-1 B", "1.5GiBs"])
def test_human_bytes_rejects(bad: str) -> None:
    with pytest.raises(FormatError):
        parse_human_bytes(bad)


def test_namespace_of() -> None:
    assert namespace_of("vm/100/2024-06-05T08:00:01Z") == ""
    assert namespace_of("ns/prod/vm/100/2024-06-05T08:00:01Z") == "prod"
    assert namespace_of("ns/a/ns/b/ns/c/ct/1/2024-06-05T08:00:01Z") == "a/b/c"


def test_backup_log_upload_statistics() -> None:
    log = parse_task_log((LOGS / "backup-vm.log").read_text())
    assert log.namespace == "prod" and log.result == "OK" and log.bad_lines == 0
    [up] = log.uploads
    assert (up.archive, up.size, up.chunks, up.uploaded) == (
        "drive-scsi0.img.fidx", 34359738368, 8192, 1077936128)
    assert (up.client_dups, up.server_dups) == (7935, 4)


def test_backup_log_two_archives_one_empty_and_failed() -> None:
    log = parse_task_log((LOGS / "backup-ct-twoarchives.log").read_text())
    assert log.namespace == ""
    assert [(u.archive, u.size, u.chunks, u.uploaded, u.client_dups) for u in log.uploads] == [
        ("root.pxar.didx", 2147483648, 512, 2147483648, 0),
        ("catalog.pcat1.didx", 0, 0, 0, 0)]
    assert log.result == "ERROR: connection error: Connection reset by peer"


def test_gc_log_summary() -> None:
    log = parse_task_log((LOGS / "gc.log").read_text())
    gc = log.gc
    assert gc.removed_bytes == round(12.345 * (1 << 30)) and gc.removed_chunks == 3012
    assert (gc.pending_bytes, gc.pending_chunks) == (812 << 20, 201)
    assert (gc.removed_bad, gc.still_bad) == (None, 2)
    assert gc.original_bytes == round(1.204 * (1 << 40))
    assert gc.disk_bytes == round(98.5 * (1 << 30)) and gc.disk_chunks == 38017
    assert gc.dedup_factor == 12.52 and gc.average_chunk_bytes == round(2.653 * (1 << 20))
    assert gc.cache_hits is None
    assert log.result == "OK" and log.bad_lines == 0


def test_verify_log_summary_lines() -> None:
    log = parse_task_log((LOGS / "verify.log").read_text())
    assert log.verify_read_bytes == round(2001.5 * (1 << 20)) + (100 << 20)
    assert log.verify_decoded_bytes == (4096 + 300) << 20
    assert log.verify_seconds == pytest.approx(90.03)
    assert log.verify_errors == 1
    assert log.result.startswith("ERROR: verification failed")


def test_sync_log_summary() -> None:
    log = parse_task_log((LOGS / "sync.log").read_text())
    assert log.sync_bytes == round(3.2 * (1 << 30)) and log.sync_chunks == 830
    assert log.sync_rate == round(86.237 * (1 << 20))


def test_malformed_lines_are_counted_not_fatal() -> None:
    log = parse_task_log((LOGS / "malformed.log").read_text())
    # no timestamp, "Size: lots", "Removed garbage: many bytes", "Deduplication factor: high"
    assert log.bad_lines == 4
    assert log.result == "OK" and log.namespace == ""
    assert log.gc.removed_bytes is None and log.gc.dedup_factor is None


@pytest.mark.parametrize(("line", "message"), [
    ("2024-06-05T10:00:00+02:00: TASK OK", "TASK OK"),
    ("2024-06-05T08:00:00Z: Size: 5", "Size: 5"),
    ("2024-06-05T10:00:00.123-05:00: x: y", "x: y"),
    ("2024-06-05 10:00:00: no T", None), ("TASK OK", None), ("", None),
])
def test_message_of(line: str, message: str | None) -> None:
    from pbs_agent.tasks.tasklog import message_of

    assert message_of(line) == message
