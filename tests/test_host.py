"""The host context: the datastore resolver (datastore.cfg) and what each command uses."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from lab.pbs_tree import DATASTORE_CFG
from pbs_agent.collectors.base import CollectContext
from pbs_agent.collectors.dedup import DedupCollector, configured_datastores
from pbs_agent.collectors.hardware import HardwareCollector
from pbs_agent.demo import build_demo
from pbs_agent.doctor import DoctorEnv, Verdict, chunks, datastores
from pbs_agent.errors import ConfigError, SourceError
from pbs_agent.host import (
    Datastore,
    DatastoreConfigError,
    Settings,
    datastores_from_text,
    resolve_datastores,
)


def test_datastore_cfg() -> None:
    stores = {d.name: d for d in datastores_from_text(DATASTORE_CFG)}
    assert stores["store1"].path == Path("/mnt/datastore/store1")
    assert stores["store2"].maintenance == "read-only"
    assert stores["s3cache"].backend == "s3"
    assert stores["usb1"].path == Path("/mnt/datastore/usb1")  # absolute_path, not <path>


@pytest.mark.parametrize(("text", "match"), [
    ("\tpath /x\n", "outside of a section"),
    ("datastore store1\n", "expected '<type>: <id>'"),
    ("datastore: s\n\tcomment no path\n", "has no path"),
])
def test_bad_section_config(text: str, match: str) -> None:
    errors = datastores_from_text(text).errors
    assert len(errors) == 1 and isinstance(errors[0], DatastoreConfigError)
    assert isinstance(errors[0], ConfigError) and match in str(errors[0])


def test_read_datastores_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"datastore\.cfg"):
        resolve_datastores(Settings(config_dir=tmp_path))


# --- one resolver, four kinds of section, what each command then uses ----------------------

UUID = "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"
ROOT_MOUNT = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host whose datastore.cfg has a filesystem, an S3-backed, a removable and a broken
    section (plus a malformed line); fs1 is a real demo datastore, cloud has its cache dir."""
    root = tmp_path_factory.mktemp("mixed")
    build_demo(str(root / "fs1"), vms=1, cts=1, days=2, disk_chunks=3, pxar_chunks=2, seed=5)
    (root / "cloud-cache").mkdir()
    for d in ("etc", "proc/1", "sys", "dev", "log", "lib", "state", "tools"):
        (root / d).mkdir(parents=True)
    (root / "etc" / "datastore.cfg").write_text(
        f"datastore: fs1\n\tpath {root}/fs1\n\tgc-schedule daily\n\n"
        "datastore: cloud\n\tbackend type=s3,client=minio,bucket=pbs\n"
        f"\tpath {root}/cloud-cache\n\n"
        f"datastore: usb\n\tbacking-device {UUID}\n\tpath usb-data\n\n"
        "datastore: broken\n\tcomment no path\n\n"
        "datastore brokenheader\n\tpath /srv/never\n")
    (root / "proc" / "1" / "mountinfo").write_text(ROOT_MOUNT)
    return root


def _settings(root: Path) -> Settings:
    return Settings(config_dir=root / "etc", procfs=root / "proc", sysfs=root / "sys",
                    devfs=root / "dev", log_dir=root / "log", lib_dir=root / "lib",
                    state_dir=root / "state", tool_fixtures=root / "tools")


def test_resolver_types_every_section(mixed: Path) -> None:
    found = resolve_datastores(_settings(mixed))
    stores = {d.name: d for d in found}
    assert sorted(stores) == ["cloud", "fs1", "usb"]
    assert stores["fs1"] == Datastore("fs1", mixed / "fs1")
    assert stores["cloud"].backend == "s3" and stores["cloud"].cache_path == mixed / "cloud-cache"
    assert not stores["cloud"].local and stores["fs1"].cache_path is None
    usb = stores["usb"]
    assert usb.removable and not usb.mounted and not usb.local
    # PBS's DataStoreConfig::absolute_path: the device's <path> is bind-mounted at the name
    assert usb.path == Path("/mnt/datastore/usb")
    assert all(isinstance(e, DatastoreConfigError) for e in found.errors)
    assert [(e.datastore, e.reason) for e in found.errors] == [
        (None, "line 16: expected '<type>: <id>', got 'datastore brokenheader'"),
        ("broken", "has no path")]
    assert str(mixed / "etc" / "datastore.cfg") in str(found.errors[1])
    assert found.local() == {"fs1": mixed / "fs1"}
    assert found.present() == {"fs1": mixed / "fs1", "cloud": mixed / "cloud-cache"}


def test_what_each_command_uses(mixed: Path) -> None:
    settings = _settings(mixed)
    # dedup collector: scans fs1 from its chunk directories and cloud from its bucket (which
    # fails here: no s3.cfg), not the unmounted usb; the broken sections are parse errors
    ctx = CollectContext(settings)
    assert configured_datastores(ctx) == {"fs1": mixed / "fs1"} and ctx.parse_errors == 2
    ctx = CollectContext(settings)
    samples = [s for fam in DedupCollector().collect(ctx) for s in fam.samples]
    scanned = {s.labels["datastore"]: s.value for s in samples
               if s.name == "pbs_datastore_scan_success"}
    assert scanned == {"fs1": 1.0, "cloud": 0.0}
    assert {(s.labels["datastore"], s.labels["backend"]) for s in samples
            if s.name == "pbs_datastore_backend_info"} == {
        ("fs1", "filesystem"), ("cloud", "s3"), ("usb", "filesystem")}
    assert [(s.labels["datastore"], s.value) for s in samples
            if s.name == "pbs_datastore_mounted"] == [("usb", 0.0)]
    assert [(s.labels["datastore"], s.value) for s in samples
            if s.name == "pbs_s3_list_requests_total"] == [("cloud", 0.0)]
    # hardware topology: places fs1 only (cloud is a cache, usb is not mounted)
    ctx = CollectContext(settings)
    fs_info = next(iter(HardwareCollector().collect(ctx)))
    assert [s.labels["datastore"] for s in fs_info.samples] == ["fs1"]
    assert ctx.parse_errors == 2 and ctx.failure is None
    # doctor: checks fs1 and cloud's cache, says usb is not mounted, fails on the broken ones
    env = DoctorEnv(settings=settings)
    assert env.datastores() == {"fs1": mixed / "fs1", "cloud": mixed / "cloud-cache"}
    cfg = datastores.check(env)
    assert cfg.verdict == Verdict.FAIL and "expected '<type>: <id>'" in cfg.evidence
    assert "(+1 more)" in cfg.evidence and "usb: removable, unmounted (not checked)" in cfg.evidence
    assert "cloud: S3-backed, local cache" in cfg.evidence
    scan = chunks.check(env)
    assert "cloud: S3-backed, chunks are in the bucket (not scanned" in scan.evidence
    assert "fs1: all" in scan.evidence and scan.verdict == Verdict.OK


def _usb_host(mixed: Path, tmp_path: Path, mount_source: str) -> Settings:
    """*mixed* with block device nodes sdc1 (8:33, linked by the usb store's UUID as udev
    does) and sdd1 (8:34), and ``/mnt/datastore/usb`` mounted from *mount_source*."""
    dev = tmp_path / "dev"
    (dev / "disk" / "by-uuid").mkdir(parents=True)
    for name, minor in (("sdc1", 33), ("sdd1", 34)):
        os.mknod(dev / name, 0o600 | stat.S_IFBLK, os.makedev(8, minor))
    (dev / "disk" / "by-uuid" / UUID).symlink_to("../../sdc1")
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    source = str(dev / mount_source) if mount_source.startswith("sd") else mount_source
    (proc / "1" / "mountinfo").write_text(
        ROOT_MOUNT + f"40 22 8:33 /usb-data /mnt/datastore/usb rw,relatime - ext4 {source} rw\n")
    return dataclasses.replace(_settings(mixed), procfs=proc, devfs=dev)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a block device needs root")


@needs_root
def test_a_mounted_removable_store_is_used(mixed: Path, tmp_path: Path) -> None:
    settings = _usb_host(mixed, tmp_path, "sdc1")
    usb = Path("/mnt/datastore/usb")
    assert resolve_datastores(settings).local()["usb"] == usb
    assert configured_datastores(CollectContext(settings))["usb"] == usb
    assert DoctorEnv(settings=settings).datastores()["usb"] == usb
    assert "usb: /mnt/datastore/usb (removable, mounted)" in datastores.check(
        DoctorEnv(settings=settings)).evidence


@needs_root
@pytest.mark.parametrize("source", ["sdd1", "/dev/gone", "tmpfs"])
def test_another_filesystem_at_the_mount_point_is_not_the_store(
        mixed: Path, tmp_path: Path, source: str) -> None:
    """PBS's is_datastore_mounted_at: the mount source must be the UUID's block device."""
    settings = _usb_host(mixed, tmp_path, source)
    assert not next(d for d in resolve_datastores(settings) if d.name == "usb").mounted


def test_flags_win_and_name_filesystem_stores(mixed: Path) -> None:
    settings = dataclasses.replace(_settings(mixed), datastores={"x": Path("/srv/x")})
    found = resolve_datastores(settings)
    assert list(found) == [Datastore("x", Path("/srv/x"))] and found.errors == ()


def test_unreadable_datastore_cfg_is_a_source_error_doctor_reports(tmp_path: Path) -> None:
    settings = Settings(config_dir=tmp_path / "nowhere")
    with pytest.raises(SourceError, match=r"datastore\.cfg"):
        resolve_datastores(settings)
    env = DoctorEnv(settings=settings)
    assert env.datastores() == {}
    check = datastores.check(env)
    assert check.verdict == Verdict.WARN and "datastore.cfg" in check.evidence


def test_unknown_backend_and_relative_path_are_errors() -> None:
    found = datastores_from_text("datastore: a\n\tbackend type=tape\n\tpath /a\n"
                                 "datastore: b\n\tpath rel\ndatastore: a\n\tpath /dup\n")
    assert list(found) == []
    assert [e.reason for e in found.errors] == [
        "unknown backend type 'tape' (expected filesystem or s3)",
        "path 'rel' is not absolute", "defined twice (first one used)"]
