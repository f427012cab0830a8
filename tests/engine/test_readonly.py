"""The scan is read-only: no atime change on chunks, nothing created or modified."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from pbs_agent.engine import scan_datastore

OLD = 1_000_000_000  # 2001: older than relatime's 24 h window and than any mtime


def _tree(root: str) -> list[tuple[str, int, int, int]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in [*dirnames, *filenames]:
            st = os.lstat(os.path.join(dirpath, n))
            out.append((os.path.join(dirpath, n), st.st_size, st.st_mtime_ns, st.st_mode))
    return sorted(out)


def test_chunk_atimes_unchanged(small_demo: str, tmp_path: Path) -> None:
    """With relatime an old atime would be bumped by any read: the scan only stats chunks."""
    chunks = glob.glob(os.path.join(small_demo, ".chunks", "*", "*"))
    assert len(chunks) > 10
    for c in chunks:
        os.utime(c, ns=(OLD * 10**9, os.stat(c).st_mtime_ns))
    scan_datastore(small_demo, state_dir=str(tmp_path / "st"))
    scan_datastore(small_demo)
    assert all(os.stat(c).st_atime_ns == OLD * 10**9 for c in chunks)


def test_index_atimes_unchanged_when_owner(small_demo: str) -> None:
    """Index files are read with O_NOATIME (we own them here, so the kernel permits it)."""
    idx = glob.glob(os.path.join(small_demo, "**", "*.?idx"), recursive=True)
    for p in idx:
        os.utime(p, ns=(OLD * 10**9, os.stat(p).st_mtime_ns))
    rep = scan_datastore(small_demo)
    assert rep.scan.index_files_read == len(idx)
    assert all(os.stat(p).st_atime_ns == OLD * 10**9 for p in idx)


def test_nothing_created_or_changed_under_datastore(small_demo: str, tmp_path: Path) -> None:
    before = _tree(small_demo)
    for _ in range(2):
        scan_datastore(small_demo, state_dir=str(tmp_path / "st"))
    assert _tree(small_demo) == before
