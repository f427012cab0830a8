"""datastore-permissions and missing-chunks on real directory trees and demo datastores."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pbs_agent.demo import build_demo
from pbs_agent.doctor import Verdict, chunks, permissions

from .hosts import Host

BACKUP = permissions.backup_ids()
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


def _store(root: Path, subdirs: int = 5) -> Path:
    """A datastore skeleton with PBS's owners and modes (a few chunk dirs, not 65536)."""
    (root / ".chunks").mkdir(parents=True)
    for i in range(subdirs):
        (root / ".chunks" / f"{i:04x}").mkdir()
    (root / ".lock").write_bytes(b"")
    for p in [root, root / ".chunks", *(root / ".chunks").iterdir()]:
        os.chown(p, *BACKUP)
        p.chmod(0o755 if p == root else 0o750)
    os.chown(root / ".lock", *BACKUP)
    (root / ".lock").chmod(0o644)
    return root


def test_backup_ids_resolve_or_fall_back_to_debian() -> None:
    uid, gid = permissions.backup_ids()
    assert uid >= 0 and gid >= 0
    try:
        import pwd

        assert uid == pwd.getpwnam("backup").pw_uid
    except KeyError:
        assert (uid, gid) == (34, 34)


@needs_root
def test_permissions_ok(host: Host) -> None:
    host.datastores["store1"] = _store(host.root / "ds")
    c = permissions.check(host.env())
    assert c.verdict == Verdict.OK, c.evidence
    assert "5 subdirs 0750" in c.evidence and c.fix == ""


@needs_root
def test_permissions_warn_on_mode_deviation_only(host: Host) -> None:
    root = _store(host.root / "ds")
    root.chmod(0o775)
    host.datastores["store1"] = root
    c = permissions.check(host.env())
    assert c.verdict == Verdict.WARN
    assert f"{root}: mode 0775, expected 0755" in c.evidence
    assert c.fix == f"chown backup:backup {root} && chmod 0755 {root}"


@needs_root
def test_permissions_fail_names_first_offender_and_fix_repairs_it(host: Host) -> None:
    root = _store(host.root / "ds")
    bad = root / ".chunks" / "0002"
    os.chown(bad, 0, 0)
    os.chown(root / ".chunks" / "0004", 0, 0)
    host.datastores["store1"] = root
    c = permissions.check(host.env())
    assert c.verdict == Verdict.FAIL
    assert c.evidence.startswith(f"store1: {bad}: owned by 0:0, expected backup:backup")
    assert "(+1 more)" in c.evidence
    assert "chown -R backup:backup" in c.fix
    subprocess.run(c.fix, shell=True, check=True)  # the printed fix really fixes it
    assert permissions.check(host.env()).verdict == Verdict.OK


@needs_root
def test_permissions_fail_on_missing_lock_and_install_fixes(host: Host) -> None:
    root = _store(host.root / "ds")
    (root / ".lock").unlink()
    host.datastores["store1"] = root
    c = permissions.check(host.env())
    assert c.verdict == Verdict.FAIL and f"{root / '.lock'}: missing file" in c.evidence
    subprocess.run(c.fix, shell=True, check=True)
    assert permissions.check(host.env()).verdict == Verdict.OK


def test_permissions_warn_without_datastores(host: Host) -> None:
    c = permissions.check(host.env())
    assert c.verdict == Verdict.WARN and "--datastore" in c.fix


def test_datastores_from_datastore_cfg(host: Host) -> None:
    host.write("etc/datastore.cfg", f"datastore: cfgstore\n\tpath {host.root}/nowhere\n")
    c = permissions.check(host.env())
    assert c.verdict == Verdict.FAIL and "cfgstore" in c.evidence and "missing" in c.evidence


@pytest.fixture(scope="module")
def demo_stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("demo")
    stores = {}
    for name, kw in {"clean": {}, "missing": {"missing": 2}, "bad": {"bad": 1}}.items():
        build_demo(str(base / name), vms=2, cts=1, days=2, disk_chunks=3, pxar_chunks=2,
                   seed=7, **kw)
        stores[name] = base / name
    return stores


def test_missing_chunks_ok(host: Host, demo_stores: dict[str, Path]) -> None:
    host.datastores["s"] = demo_stores["clean"]
    c = chunks.check(host.env())
    assert c.verdict == Verdict.OK, c.evidence
    assert "referenced chunks present" in c.evidence


def test_missing_chunks_fail_per_group(host: Host, demo_stores: dict[str, Path]) -> None:
    host.datastores["s"] = demo_stores["missing"]
    c = chunks.check(host.env())
    assert c.verdict == Verdict.FAIL
    assert " missing" in c.evidence and ("vm/" in c.evidence or "ct/" in c.evidence)
    assert c.fix.startswith("proxmox-backup-manager verify s")


def test_bad_chunks_only_warn(host: Host, demo_stores: dict[str, Path]) -> None:
    host.datastores["s"] = demo_stores["bad"]
    c = chunks.check(host.env())
    assert c.verdict == Verdict.WARN, c.evidence
    assert ": 1 bad" in c.evidence and "missing" not in c.evidence  # .bad is not missing too


def test_missing_chunks_unscannable_store_fails(host: Host) -> None:
    host.datastores["s"] = host.root / "absent"
    c = chunks.check(host.env())
    assert c.verdict == Verdict.FAIL and "cannot scan" in c.evidence


@needs_root
def test_permissions_fix_for_everything_wrong(host: Host) -> None:
    """A tree copied as root: every entry is wrong; the one-line fix repairs all of it."""
    root = _store(host.root / "ds")
    for p in [root, root / ".lock", root / ".chunks", *(root / ".chunks").iterdir()]:
        os.chown(p, 0, 0)
    host.datastores["store1"] = root
    c = permissions.check(host.env())
    assert c.verdict == Verdict.FAIL and "(+7 more)" in c.evidence
    assert c.fix.count("chown") == 3  # root, .lock, then one recursive fix for .chunks
    subprocess.run(c.fix, shell=True, check=True)
    assert permissions.check(host.env()).verdict == Verdict.OK
