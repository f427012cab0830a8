"""Which atimes the agent changes, by service user (issue 12; documented in README.md).

Chunk atimes never change: chunks are only stat'ed (GC marks live chunks by atime). Other
atimes: the agent opens every directory and file with O_NOATIME where the kernel allows it
(root, CAP_FOWNER, or the file's owner). A member of group backup is refused O_NOATIME, so
the directories it lists and the index/manifest/owner files it reads may get their atime
bumped (relatime: if older than the mtime or than 24 h). Under the shipped systemd unit the
datastores are read-only mounts (ReadOnlyPaths=), where no atime ever changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from lab import measure

OLD_NS = 1_000_000_000 * 10**9  # 2001: older than any mtime and than relatime's 24 h
BACKUP_GID = 34
AS_BACKUP_MEMBER = ["setpriv", "--reuid=65534", "--regid=65534", f"--groups={BACKUP_GID}"]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _paths(root: str) -> list[str]:
    """Every path below *root*, listed without touching a directory's atime (O_NOATIME:
    this test owns the tree or is root)."""
    out, todo = [root], [root]
    while todo:
        d = todo.pop()
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOATIME)
        try:
            names = os.listdir(fd)
        finally:
            os.close(fd)
        for n in names:
            p = os.path.join(d, n)
            out.append(p)
            if os.path.isdir(p) and not os.path.islink(p):
                todo.append(p)
    return out


def _age_atimes(root: str) -> None:
    for p in _paths(root):
        os.utime(p, ns=(OLD_NS, os.lstat(p).st_mtime_ns), follow_symlinks=False)


def _changed(root: str) -> dict[str, list[str]]:
    """Paths whose atime moved, by kind."""
    return _classify(root, [p for p in _paths(root) if os.lstat(p).st_atime_ns != OLD_NS])


def _classify(root: str, paths: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in paths:
        rel = os.path.relpath(p, root)
        kind = ("chunk" if rel.startswith(".chunks/") and rel.count("/") == 2
                else "directory" if os.path.isdir(p)
                else "index" if p.endswith("idx") else os.path.basename(p))
        out.setdefault(kind, []).append(rel)
    return out


def _report(root: str, prefix: list[str], state: str) -> None:
    run = measure.run([*prefix, sys.executable, "-m", "pbs_agent", "report", "--json", root,
                       "--state-dir", state], timeout=120)
    assert run.returncode == 0, run.stderr


def _doctor_chunks(root: str, prefix: list[str], state: str) -> None:
    run = measure.run([*prefix, sys.executable, "-m", "pbs_agent", "doctor", "--check",
                       "missing-chunks", "--check", "datastore-permissions",
                       "--datastore", f"s={root}", "--state-dir", state], timeout=120)
    assert run.returncode in (0, 1, 2), run.stderr
    assert "Traceback" not in run.stderr


@pytest.fixture
def store(small_demo_template: str, world_readable_tmp: str) -> str:
    root = os.path.join(world_readable_tmp, "ds")
    shutil.copytree(small_demo_template, root)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{BACKUP_GID}:{BACKUP_GID}", root], check=True)
        subprocess.run(["chmod", "-R", "g+rX", root], check=True)
    os.makedirs(os.path.join(world_readable_tmp, "st"), mode=0o777)
    os.chmod(os.path.join(world_readable_tmp, "st"), 0o777)
    _age_atimes(root)
    return root


def test_root_changes_no_atime(store: str) -> None:
    """As root (CAP_FOWNER: O_NOATIME allowed) nothing's atime moves, chunks or not."""
    state = os.path.join(os.path.dirname(store), "st")
    _report(store, [], state)
    _report(store, [], state)  # warm, from the state
    _doctor_chunks(store, [], state)
    assert _changed(store) == {}


@needs_root
def test_backup_group_member_never_changes_chunk_atimes(store: str) -> None:
    """The agent's service user (member of group backup, not the owner) is refused
    O_NOATIME: listed directories and read files may get a new atime, chunks never."""
    state = os.path.join(os.path.dirname(store), "st")
    _report(store, AS_BACKUP_MEMBER, state)
    _doctor_chunks(store, AS_BACKUP_MEMBER, state)
    changed = _changed(store)
    assert "chunk" not in changed
    # measured (relatime, old atimes): every directory listed, every file read
    everything = {k: sorted(v) for k, v in _classify(store, _paths(store)).items()
                  if k != "chunk" and k in ("directory", "index", "index.json.blob", "owner")}
    assert {k: sorted(v) for k, v in changed.items()} == everything


@needs_root
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_read_only_mount_changes_no_atime(store: str) -> None:
    """The shipped unit makes the datastores read-only mounts (ReadOnlyPaths=): there the
    kernel updates no atime at all, whoever reads."""
    state = os.path.join(os.path.dirname(store), "st")
    script = (f"mount --bind {store} {store} && mount -o remount,bind,ro {store} && "
              f"exec {' '.join(AS_BACKUP_MEMBER)} {sys.executable} -m pbs_agent report --json "
              f"{store} --state-dir {state}")
    run = measure.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                      timeout=120)
    assert run.returncode == 0, run.stderr
    assert _changed(store) == {}
