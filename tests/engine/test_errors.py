"""Bad content, vanishing files and permission denied: typed issues, the scan goes on."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pbs_agent.engine import chunks as chunks_mod
from pbs_agent.engine import groups as groups_mod
from pbs_agent.engine import scan_datastore

from .conftest import assert_matches_reference


def _indexes(root: str, pattern: str = "*.fidx") -> list[str]:
    return sorted(glob.glob(os.path.join(root, "**", pattern), recursive=True))


def test_corrupt_index_and_manifest_are_listed_and_skipped(small_demo: str) -> None:
    fidx = _indexes(small_demo)[0]
    with open(fidx, "r+b") as fh:
        fh.truncate(4096 + 31)
    didx = _indexes(small_demo, "*.didx")[0]
    with open(didx, "r+b") as fh:
        fh.write(b"NOTMAGIC")
    newest = sorted(glob.glob(os.path.join(small_demo, "vm", "100", "*Z")))[-1]
    with open(os.path.join(newest, "index.json.blob"), "r+b") as fh:
        fh.seek(20)
        fh.write(b"\xff\xff")
    rep = scan_datastore(small_demo)
    by_path = {e.path: e.reason for e in rep.errors}
    assert by_path[fidx] == "entry area of 31 bytes is not a multiple of 32"
    assert by_path[didx].startswith("wrong magic 4e4f544d41474943")
    assert by_path[os.path.join(newest, "index.json.blob")].startswith("CRC-32 mismatch")
    assert_matches_reference(rep.as_dict(), small_demo)
    assert rep.group("", "vm", "100").last_verify_state == "none"


def test_index_vanishing_between_walk_and_read(small_demo: str, monkeypatch) -> None:
    victim = _indexes(small_demo)[-1]
    real = groups_mod.read_index_prefixes

    def vanish(path, on_piece, **kw):
        if path == victim:
            os.unlink(victim)
        return real(path, on_piece, **kw)

    monkeypatch.setattr(groups_mod, "read_index_prefixes", vanish)
    rep = scan_datastore(small_demo)
    assert [(e.path, e.reason) for e in rep.errors] == [
        (victim, "vanished (no such file or directory)")]
    assert_matches_reference(rep.as_dict(), small_demo)


def test_snapshot_dir_vanishing_during_walk(small_demo: str, monkeypatch) -> None:
    import pbs_agent.datastore as ds_mod

    snaps = sorted(glob.glob(os.path.join(small_demo, "ct", "100", "*Z")))
    real = ds_mod._read_snapshot

    def vanish(path, name, btime, issues):
        if path == snaps[0]:
            for fn in os.listdir(path):
                os.unlink(os.path.join(path, fn))
            os.rmdir(path)
        return real(path, name, btime, issues)

    monkeypatch.setattr(ds_mod, "_read_snapshot", vanish)
    rep = scan_datastore(small_demo)
    assert [(e.path, e.reason) for e in rep.errors] == [
        (snaps[0], "vanished (no such file or directory)")]
    assert rep.group("", "ct", "100").snapshots == len(snaps) - 1
    assert_matches_reference(rep.as_dict(), small_demo)


def test_chunk_vanishing_between_listing_and_stat(small_demo: str, monkeypatch) -> None:
    """GC removing chunks while we list: they are simply not on disk (no error)."""
    removed: list[str] = []

    class OsProxy:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def stat(name, *, dir_fd=None, follow_symlinks=True):
            if isinstance(name, str) and len(name) == 64 and len(removed) < 3:
                os.unlink(name, dir_fd=dir_fd)
                removed.append(name)
            return os.stat(name, dir_fd=dir_fd, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(chunks_mod, "os", OsProxy())
    rep = scan_datastore(small_demo)
    assert len(removed) == 3 and rep.errors == []
    assert_matches_reference(rep.as_dict(), small_demo)


SCAN = ("import json, sys; from pbs_agent.engine import scan_datastore; "
        "print(json.dumps(scan_datastore(sys.argv[1]).as_dict()))")


BACKUP_GID = 34  # Debian's fixed "backup" group, the one PBS datastores belong to


def _scan_as_backup_member(root: str) -> dict:
    """Scan as uid/gid 65534 with the backup group as supplementary group (like the agent)."""
    cmd = [sys.executable, "-c", SCAN, root]
    if os.geteuid() == 0:
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                os.chown(os.path.join(dirpath, n), BACKUP_GID, BACKUP_GID, follow_symlinks=False)
        os.chown(root, BACKUP_GID, BACKUP_GID)
        os.chmod(os.path.join(root, ".chunks"), 0o750)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", f"--groups={BACKUP_GID}", *cmd]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=True)
    return json.loads(out.stdout)


def test_permission_denied_as_unprivileged_user(small_demo_template, world_readable_tmp) -> None:
    """chmod 000 on a snapshot, a chunk dir and an owner file; scan as a non-root member of
    group backup (as root via setpriv; when not root, the current user is denied directly)."""
    import shutil

    root = os.path.join(world_readable_tmp, "ds")
    shutil.copytree(small_demo_template, root)
    snap = sorted(glob.glob(os.path.join(root, "vm", "100", "*Z")))[0]
    cdir = sorted(glob.glob(os.path.join(root, ".chunks", "*")))[0]
    owner = os.path.join(root, "ct", "100", "owner")
    full = scan_datastore(root).as_dict()
    rep_ok = _scan_as_backup_member(root)
    assert rep_ok["errors"] == [] and rep_ok["datastore"] == full["datastore"]
    for p in (snap, cdir, owner):
        os.chmod(p, 0)
    rep = _scan_as_backup_member(root)
    reasons = {e["path"]: e["reason"] for e in rep["errors"]}
    assert reasons == {snap: "permission denied", cdir: "permission denied",
                       owner: "permission denied"}
    assert rep["datastore"]["snapshots"] == full["datastore"]["snapshots"] - 1
    assert rep["datastore"]["chunks_on_disk"] < full["datastore"]["chunks_on_disk"]
    assert rep["datastore"]["missing_chunks"] >= full["datastore"]["missing_chunks"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to compare with an unrestricted scan")
def test_root_is_not_denied_by_chmod(small_demo: str) -> None:
    """As root chmod 000 does not deny (CAP_DAC_OVERRIDE): the report stays complete."""
    snap = sorted(glob.glob(os.path.join(small_demo, "vm", "100", "*Z")))[0]
    os.chmod(snap, 0)
    try:
        rep = scan_datastore(small_demo)
    finally:
        os.chmod(snap, 0o755)
    assert rep.errors == []
