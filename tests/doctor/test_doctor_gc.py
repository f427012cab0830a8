"""gc-health: last GC age/result from jobstates, task archive and .gc-status; atime safety
from mountinfo and datastore.cfg tuning."""

from __future__ import annotations

import json

from pbs_agent.doctor import Verdict, gc

from .hosts import Host

DAY = 86400


def _upid(start: float, store: str = "store1") -> str:
    return (f"UPID:pbs1:000004D2:0000162E:00000000:{int(start):08X}:garbage_collection:"
            f"{store}:root@pam:")


def _setup(host: Host, opts: str = "rw,relatime", tuning: str = "") -> None:
    ds = host.root / "mnt" / "datastore" / "store1"
    ds.mkdir(parents=True)
    host.datastores["store1"] = ds
    host.write("proc/1/mountinfo",
               "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
               f"36 22 0:32 / {host.root}/mnt/datastore/store1 {opts} shared:9 - zfs "
               f"tank/store1 rw,xattr,noacl\n")
    cfg = f"datastore: store1\n\tpath {ds}\n\tgc-schedule daily\n"
    if tuning:
        cfg += f"\ttuning {tuning}\n"
    host.write("etc/datastore.cfg", cfg)


def _jobstate(host: Host, age_days: float, state: str = "ok") -> None:
    end = host.now - age_days * DAY
    doc = {"finished": {"upid": _upid(end - 600), "state": {"state": state, "endtime": int(end)},
                        "updated": int(end)}}
    host.write("lib/jobstates/garbage_collection-store1.json", json.dumps(doc))


def test_ok_recent_gc_on_relatime(host: Host) -> None:
    _setup(host)
    _jobstate(host, 1)
    c = gc.check(host.env())
    assert c.verdict == Verdict.OK, c.evidence
    assert "(1.0 days ago, jobstate) ok" in c.evidence
    assert f"{host.root}/mnt/datastore/store1 relatime, cutoff 1445 min" in c.evidence


def test_warn_old_gc(host: Host) -> None:
    _setup(host)
    _jobstate(host, 10)
    c = gc.check(host.env())
    assert c.verdict == Verdict.WARN and "older than 8 days" in c.evidence
    assert c.fix.startswith("proxmox-backup-manager garbage-collection start store1")


def test_warn_no_gc_recorded(host: Host) -> None:
    _setup(host)
    c = gc.check(host.env())
    assert c.verdict == Verdict.WARN and "no garbage collection recorded" in c.evidence


def test_fail_last_gc_failed_per_task_archive(host: Host) -> None:
    _setup(host)
    _jobstate(host, 3)  # older success
    end = host.now - DAY
    host.write("log/tasks/archive",
               f"{_upid(end - 60, 'other')} {int(end):08X} OK\n"
               f"{_upid(end - 60)} {int(end):08X} unable to access chunk store - EIO\n")
    c = gc.check(host.env())
    assert c.verdict == Verdict.FAIL
    assert "task archive) failed: unable to access chunk store - EIO" in c.evidence


def test_newest_source_wins(host: Host) -> None:
    _setup(host)
    old = host.now - 5 * DAY
    host.write("log/tasks/archive", f"{_upid(old - 60)} {int(old):08X} some error\n")
    _jobstate(host, 1)
    assert gc.check(host.env()).verdict == Verdict.OK


def test_gc_status_upid_is_a_source(host: Host) -> None:
    _setup(host)
    start = host.now - 2 * DAY
    (host.datastores["store1"] / ".gc-status").write_text(json.dumps({"upid": _upid(start)}))
    c = gc.check(host.env())
    assert c.verdict == Verdict.OK and ".gc-status" in c.evidence


def test_fail_noatime(host: Host) -> None:
    _setup(host, opts="rw,noatime")
    _jobstate(host, 1)
    c = gc.check(host.env())
    assert c.verdict == Verdict.FAIL and "mounted noatime" in c.evidence
    assert "relatime" in c.fix


def test_warn_short_cutoff_with_relatime(host: Host) -> None:
    _setup(host, tuning="gc-atime-cutoff=600,chunk-order=none")
    _jobstate(host, 1)
    c = gc.check(host.env())
    assert c.verdict == Verdict.WARN and "cutoff 600 min (< 24 h with relatime)" in c.evidence
    assert "--tuning 'gc-atime-cutoff=1445'" in c.fix


def test_short_cutoff_ok_with_strictatime(host: Host) -> None:
    _setup(host, opts="rw", tuning="gc-atime-cutoff=600")
    _jobstate(host, 1)
    c = gc.check(host.env())
    assert c.verdict == Verdict.OK and "strictatime, cutoff 600 min" in c.evidence


def test_mountinfo_falls_back_to_self(host: Host) -> None:
    _setup(host, opts="rw,noatime")
    _jobstate(host, 1)
    text = (host.root / "proc/1/mountinfo").read_text()
    (host.root / "proc/1/mountinfo").unlink()
    host.write("proc/self/mountinfo", text)
    assert gc.check(host.env()).verdict == Verdict.FAIL
