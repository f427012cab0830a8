"""The dedup collector: engine report → metrics, group cap, failures per datastore."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from lab.pbs_tree import build_tree
from pbs_agent.collectors.base import CollectContext
from pbs_agent.collectors.dedup import OTHER, DedupCollector, cap_groups, configured_datastores
from pbs_agent.demo import build_demo
from pbs_agent.engine import scan_datastore
from pbs_agent.engine.model import GroupReport
from pbs_agent.errors import SourceError
from pbs_agent.host import Settings

from .conftest import collect, value


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "ds"
    build_demo(str(path), vms=3, cts=2, days=3, seed=7, garbage=3, missing=1, bad=1)
    return path


def _group(bid: str, excl: int) -> GroupReport:
    return GroupReport("", "vm", bid, exclusive_bytes=excl, snapshots=2,
                       referenced_bytes=excl * 2, last_new_bytes=1, last_logical_bytes=10,
                       last_backup_time=int(excl))


def test_cap_groups_sums_the_rest() -> None:
    groups = [_group(str(i), i * 100) for i in range(1, 6)]
    capped = cap_groups(groups, 2)
    assert [g.backup_id for g in capped] == ["5", "4", OTHER]
    other = capped[-1]
    assert other.exclusive_bytes == 600 and other.snapshots == 6
    assert other.referenced_bytes == 1200 and other.last_backup_time == 300
    assert cap_groups(groups, 5) == sorted(groups, key=lambda g: -g.exclusive_bytes)


def test_metrics_match_the_engine_report(demo: Path, tmp_path: Path) -> None:
    s = Settings(datastores={"demo": demo}, state_dir=tmp_path / "state")
    smp, _ = collect(DedupCollector(), s)
    report = scan_datastore(str(demo), state_dir=str(tmp_path / "state")).as_dict()
    ds = report["datastore"]
    for metric, key in (("logical_bytes", "logical_bytes"), ("physical_bytes", "physical_bytes"),
                        ("garbage_bytes", "garbage_bytes"), ("missing_chunks", "missing_chunks"),
                        ("bad_chunks", "bad_chunks"), ("snapshots", "snapshots")):
        assert value(smp, f"pbs_datastore_{metric}", datastore="demo") == ds[key]
    assert ds["missing_chunks"] >= 1 and ds["bad_chunks"] >= 1 and ds["garbage_bytes"] > 0
    assert value(smp, "pbs_datastore_dedup_factor", datastore="demo") == pytest.approx(
        ds["dedup_factor"])
    for g in report["groups"]:
        labels = {"datastore": "demo", "namespace": g["namespace"],
                  "backup_type": g["backup_type"], "backup_id": g["backup_id"]}
        assert value(smp, "pbs_group_exclusive_bytes", **labels) == g["exclusive_bytes"]
        assert value(smp, "pbs_group_last_verify_state", state=g["last_verify_state"],
                     **labels) == 1
        states = [value(smp, "pbs_group_last_verify_state", state=st, **labels)
                  for st in ("ok", "failed", "none")]
        assert sorted(states) == [0, 0, 1]
        assert value(smp, "pbs_group_info", owner=g["owner"], comment=g["comment"] or "",
                     **labels) == 1


def test_group_cap_bounds_cardinality(demo: Path, tmp_path: Path) -> None:
    s = Settings(datastores={"demo": demo}, state_dir=tmp_path / "state", max_groups=2)
    smp, _ = collect(DedupCollector(), s)
    report = scan_datastore(str(demo), state_dir=str(tmp_path / "state")).as_dict()
    rows = [k for k in smp if k[0] == "pbs_group_exclusive_bytes"]
    assert len(rows) == 3
    other = {"datastore": "demo", "namespace": "", "backup_type": "", "backup_id": OTHER}
    rest = sorted(report["groups"], key=lambda g: -g["exclusive_bytes"])[2:]
    assert value(smp, "pbs_group_exclusive_bytes", **other) == sum(
        g["exclusive_bytes"] for g in rest)
    assert not any(k[0] == "pbs_group_info" and ("backup_id", OTHER) in k[1] for k in smp)


def test_one_bad_datastore_keeps_the_others(demo: Path, tmp_path: Path) -> None:
    s = Settings(datastores={"demo": demo, "gone": tmp_path / "missing"},
                 state_dir=tmp_path / "state")
    smp, _ = collect(DedupCollector(), s)
    assert value(smp, "pbs_datastore_scan_success", datastore="demo") == 1
    assert value(smp, "pbs_datastore_scan_success", datastore="gone") == 0
    only_bad = replace(s, datastores={"gone": tmp_path / "missing"})
    with pytest.raises(SourceError):
        list(DedupCollector().collect(CollectContext(only_bad)))


def test_datastores_from_cfg_skip_s3(tmp_path: Path) -> None:
    tree = build_tree(tmp_path / "host")
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    root = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    (proc / "1" / "mountinfo").write_text(root)
    dev = tmp_path / "dev"
    settings = Settings(config_dir=tree["etc"], procfs=proc, devfs=dev)
    # the removable usb1 is scanned only while its device is mounted under /mnt/datastore/usb1
    assert sorted(configured_datastores(CollectContext(settings))) == ["store1", "store2"]
    if os.geteuid() != 0:
        return  # a block device node (below) needs root
    (dev / "disk" / "by-uuid").mkdir(parents=True)
    os.mknod(dev / "sdc1", 0o600 | stat.S_IFBLK, os.makedev(8, 33))
    (dev / "disk" / "by-uuid" / "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab").symlink_to(dev / "sdc1")
    (proc / "1" / "mountinfo").write_text(
        root + f"40 22 8:33 /usb1-data /mnt/datastore/usb1 rw,relatime - ext4 {dev}/sdc1 rw\n")
    stores = configured_datastores(CollectContext(settings))
    assert sorted(stores) == ["store1", "store2", "usb1"]
    assert stores["usb1"] == Path("/mnt/datastore/usb1")


def test_restore_points_and_reclaim_metrics(demo: Path, tmp_path: Path) -> None:
    """The assurance figures of the engine's report, for every group even beyond the cap;
    0 where a group has no restorable or verified-ok snapshot."""
    s = Settings(datastores={"demo": demo}, state_dir=tmp_path / "state", max_groups=1,
                 log_dir=tmp_path / "log")
    smp, _ = collect(DedupCollector(), s)
    report = scan_datastore(str(demo), state_dir=str(tmp_path / "state")).as_dict()
    ds = report["datastore"]
    for metric in ("garbage_reclaimable_bytes", "garbage_pending_bytes"):
        assert value(smp, f"pbs_datastore_{metric}", datastore="demo") == ds[metric]
    assert ds["garbage_reclaimable_bytes"] == ds["garbage_bytes"]  # the 2024 demo is long due
    assert not any(k[0] == "pbs_datastore_garbage_pending_until_timestamp_seconds"
                   for k in smp)  # nothing pending: no due time
    assert len(report["groups"]) == 5
    for g in report["groups"]:
        labels = {"datastore": "demo", "namespace": g["namespace"],
                  "backup_type": g["backup_type"], "backup_id": g["backup_id"]}
        for metric, key in (("last_restorable", "last_restorable_time"),
                            ("last_verified_ok", "last_verified_ok_time"),
                            ("last_backup", "last_backup_time")):
            assert value(smp, f"pbs_group_{metric}_timestamp_seconds", **labels) == (
                g[key] or 0), (metric, labels)
    assert any(g["last_restorable_time"] is None for g in report["groups"])  # missing/bad
    assert not any(k[0].startswith("pbs_group_last_") and ("backup_id", OTHER) in k[1]
                   and "timestamp" in k[0] for k in smp)


def test_gc_rule_from_tuning_and_running_writers(tmp_path: Path) -> None:
    """The forecast uses datastore.cfg's gc-atime-cutoff and the oldest running backup."""
    from pbs_agent.collectors.dedup import gc_rules

    etc, log = tmp_path / "etc", tmp_path / "log" / "tasks"
    etc.mkdir()
    log.mkdir(parents=True)
    (etc / "datastore.cfg").write_text(
        "datastore: a\n\tpath /a\n\ttuning gc-atime-cutoff=600,chunk-order=none\n"
        "datastore: b\n\tpath /b\n")
    upid = "UPID:pbs1:00000001:00000002:00000003:{:08X}:{}:{}\\x3avm-100:root@pam:"
    (log / "active").write_text("\n".join([
        upid.format(5000, "backup", "a"), upid.format(4000, "backup", "a") + " 65A0 OK",
        upid.format(7000, "backup", "b"), upid.format(6000, "garbage_collection", "b"),
        "garbage line"]) + "\n")
    ctx = CollectContext(Settings(config_dir=etc, log_dir=tmp_path / "log",
                                  datastores={"a": Path("/a"), "b": Path("/b")}))
    rules = gc_rules(ctx, ["a", "b"])
    assert (rules["a"].cutoff_s, rules["a"].oldest_writer) == (600 * 60, 5000)
    assert (rules["b"].cutoff_s, rules["b"].oldest_writer) == ((24 * 60 + 5) * 60, 7000)
