"""A deterministic PBS host tree (task logs, jobstates, datastore.cfg) for collector tests.

``build_tree(root)`` writes ``root/log``, ``root/lib``, ``root/etc``; the constants below are
the facts the tests check the metrics against.
"""

from __future__ import annotations

import json
from pathlib import Path

from lab.pbs_tasks import Archive, Task, TaskTree, backup_lines, gc_lines, make_upid

T0 = 1717560000  # 2024-06-05T04:00:00Z
DAY = 86400
BIG_PSTART = 0x123456789  # 9 hex digits: a host up for more than 497 days

VM100_DISK = Archive("drive-scsi0.img.fidx", size=34359738368, chunks=8192, uploaded_chunks=512,
                     upload_size=2147483648, server_dups=12)
CT101_ROOT = Archive("root.pxar.didx", size=1073741824, chunks=300, uploaded_chunks=40,
                     upload_size=150000000, server_dups=2)
CT101_CATALOG = Archive("catalog.pcat1.didx", size=2000000, chunks=2, uploaded_chunks=2,
                        upload_size=2000000)
HOST_ROOT = Archive("root.pxar.didx", size=5000000, chunks=0, uploaded_chunks=0, upload_size=0)


def _backup(start: int, end: int, store: str, ns: str, btype: str, bid: str,
            archives: list[Archive], status: str = "OK", pstart: int = 0x1E240,
            fail: str | None = None) -> Task:
    upid = make_upid(start, "backup", f"{store}:{btype}/{bid}", pstart=pstart, task_id=start)
    lines = backup_lines(store, ns, btype, bid, "2024-06-05T04:00:00Z", archives, fail=fail)
    return Task(upid, start, end, status, lines)


def tasks() -> list[Task]:
    """Every task of the scenario, oldest first by end time."""
    t = []
    # day 0 (these end up in archive.2.zst)
    t.append(_backup(T0, T0 + 500, "store1", "", "vm", "100", [VM100_DISK]))
    t.append(Task(make_upid(T0 + 100, "garbage_collection", "store2", task_id=1), T0 + 100,
                  T0 + 700, "OK", gc_lines("0 B", None, "1.00")))
    # day 1 (archive.1)
    t.append(_backup(T0 + DAY, T0 + DAY + 600, "store1", "", "vm", "100", [VM100_DISK],
                     pstart=BIG_PSTART))
    t.append(_backup(T0 + DAY + 10, T0 + DAY + 130, "store1", "prod/web", "ct", "101",
                     [CT101_ROOT, CT101_CATALOG]))
    t.append(Task(make_upid(T0 + DAY + 20, "aptupdate", "", task_id=2), T0 + DAY + 20,
                  T0 + DAY + 25, "OK", ["update package lists"]))
    # day 2 (archive)
    t.append(_backup(T0 + 2 * DAY, T0 + 2 * DAY + 50, "store1", "", "vm", "102", [VM100_DISK],
                     status="connection reset by peer", fail="connection reset by peer"))
    t.append(_backup(T0 + 2 * DAY + 5, T0 + 2 * DAY + 5, "store2", "", "host",
                     "my-host.example", [HOST_ROOT], status="WARNINGS: 1"))
    t.append(Task(make_upid(T0 + 2 * DAY + 100, "garbage_collection", "store1", task_id=3),
                  T0 + 2 * DAY + 100, T0 + 2 * DAY + 3700, "OK",
                  gc_lines("1.5 GiB", "300 MiB", "25.13")))
    t.append(Task(make_upid(T0 + 2 * DAY + 200, "garbage_collection", "store2", task_id=4),
                  T0 + 2 * DAY + 200, T0 + 2 * DAY + 201, "unable to start GC",
                  ["Start GC failed - (already running/locked)"]))
    t.append(Task(make_upid(T0 + 2 * DAY + 300, "verificationjob", "store1:v-daily", task_id=5),
                  T0 + 2 * DAY + 300, T0 + 2 * DAY + 400, "OK",
                  ["verify datastore store1", "verify group store1:vm/100 (1 snapshots)",
                   "  verified 2048.00/4096.00 MiB in 16.00 seconds, speed 128.00/256.00 MiB/s "
                   "(0 errors)",
                   "  verified 1024.00/1024.00 MiB in 4.00 seconds, speed 256.00/256.00 MiB/s "
                   "(1 errors)"]))
    t.append(Task(make_upid(T0 + 2 * DAY + 400, "syncjob",
                            "remote1:src:store1:prod:s-remote1", task_id=6),
                  T0 + 2 * DAY + 400, T0 + 2 * DAY + 424, "OK",
                  ["Starting datastore sync job 'remote1:src:store1:prod:s-remote1'",
                   "Summary: sync job pulled 1.25 GiB in 420 chunks (average rate: 52.4 MiB/s)"]))
    t.append(Task(make_upid(T0 + 2 * DAY + 500, "syncjob",
                            "remote1:src:store1:prod:s-remote1", task_id=7),
                  T0 + 2 * DAY + 500, T0 + 2 * DAY + 502, "OK",
                  ["Summary: sync job found no new data to pull"]))
    # running now
    t.append(Task(make_upid(T0 + 3 * DAY, "backup", "store1:vm/103", task_id=8), T0 + 3 * DAY,
                  None))
    return t


COMPRESSED, ROTATED = 2, 3  # archive.2.zst and archive.1 line counts
MALFORMED_ARCHIVE_LINES = ["this is not a task line",
                           "UPID:bad:node:00000001 5F000000 OK"]

DATASTORE_CFG = """\
datastore: store1
\tcomment main store
\tgc-schedule daily
\tpath /mnt/datastore/store1

datastore: store2
\tpath /srv/store2
\tmaintenance-mode read-only,message="moving"

datastore: s3cache
\tbackend type=s3,client=minio,bucket=pbs
\tpath /var/cache/s3store

datastore: usb1
\tbacking-device 0a1b2c3d-aaaa-bbbb-cccc-0123456789ab
\tpath usb1-data
"""


def jobstates(upids: dict[str, str]) -> dict[str, str]:
    """File name → content of ``jobstates/``: both task-state layouts and broken files."""
    def dump(obj: object) -> str:
        return json.dumps(obj)
    return {
        "garbage_collection-store1.json": dump({"finished": {
            "upid": upids["gc1"], "state": {"state": "ok", "endtime": T0 + 2 * DAY + 3700},
            "updated": T0 + 2 * DAY + 3700}}),
        "syncjob-s-remote1.json": dump({"finished": {
            "upid": upids["sync"], "state": {"state": "error", "message": "remote gone",
                                             "endtime": T0 + 2 * DAY + 424}}}),
        "verificationjob-v-daily.json": dump({"finished": {  # task state externally tagged
            "upid": upids["verify"],
            "state": {"warning": {"count": 1, "endtime": T0 + 2 * DAY + 400}}}}),
        "prunejob-p-weekly.json": dump({"created": {"time": T0}}),
        "tape-backup-job-t1.json": dump({"started": {"upid": upids["running"]}}),
        "broken-x.json": "{not json",
        "verificationjob-v-new.json": dump({"started": {"upid": "not-a-upid"}}),
        "README": "not a job state",
    }


def build_tree(root: Path) -> dict[str, Path]:
    """Write the scenario under *root*; returns the log, lib and etc directories."""
    tree = TaskTree()
    all_tasks = tasks()
    for task in all_tasks:
        tree.add(task)
    log_dir, lib_dir, etc_dir = root / "log", root / "lib", root / "etc"
    tasks_dir = tree.write(log_dir, rotated=ROTATED, compressed=COMPRESSED)
    with open(tasks_dir / "archive", "a") as fh:
        fh.write("\n".join(MALFORMED_ARCHIVE_LINES) + "\n")
    by_type = {t.upid.split(":")[6] + str(i): t.upid for i, t in enumerate(all_tasks)}
    upids = {"gc1": by_type["garbage_collection7"], "sync": by_type["syncjob10"],
             "verify": by_type["verificationjob9"], "running": all_tasks[-1].upid}
    (lib_dir / "jobstates").mkdir(parents=True)
    for name, text in jobstates(upids).items():
        (lib_dir / "jobstates" / name).write_text(text)
    etc_dir.mkdir(parents=True)
    (etc_dir / "datastore.cfg").write_text(DATASTORE_CFG)
    return {"log": log_dir, "lib": lib_dir, "etc": etc_dir}
