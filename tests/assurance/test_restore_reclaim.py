"""Restore points and the reclaim forecast on the suite's datastore of real shape (65,536
chunk dirs, >100k chunks, ``lab/datastore_gen.py``) with planted missing and bad chunks,
against an independent computation (:mod:`tests.assurance.reference`, run in a child).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from pbs_agent.assurance.reclaim import DEFAULT_CUTOFF_S, GcRule
from pbs_agent.demo import build_demo
from pbs_agent.engine import DatastoreReport, scan_datastore
from pbs_agent.state import RECENT_NS

HOUR = 3600
REPO = Path(__file__).resolve().parents[2]


def child(cmd: str, **args: Any) -> Any:
    """Run the reference in a child process (its sets never grow this one)."""
    proc = subprocess.run([sys.executable, "-m", "tests.assurance.reference", cmd,
                           json.dumps(args)], capture_output=True, text=True, cwd=REPO,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def reference(root: str, now: int, cutoff: int = DEFAULT_CUTOFF_S,
              writer: int | None = None) -> dict[str, Any]:
    out = child("reference", root=root, now=now, cutoff=cutoff, writer=writer)
    out["points"] = {tuple(p[:3]): tuple(p[3:]) for p in out["points"]}
    return dict(out)


def linked_copy(src: Path) -> Path:
    """A copy of a datastore next to it (same filesystem): files are hard links, so the
    sparse chunk files are not written out; what the test changes it replaces or unlinks."""
    dst = Path(tempfile.mkdtemp(prefix="copy-", dir=src.parent)) / "ds"
    shutil.copytree(src, dst, symlinks=True, copy_function=os.link)
    return dst


@pytest.fixture(scope="module")
def damaged(full_size_datastore: Path) -> dict[str, Any]:
    """A hard-linked copy of the suite's full-size datastore with the faults of
    :func:`tests.assurance.reference.plant`."""
    root = linked_copy(full_size_datastore)
    planted = {"root": str(root), **child("plant", root=str(root))}
    # Let the planted faults age past the state's "changed just now, do not keep" window, or a
    # fast machine scans them inside it and the warm scan rightly keeps nothing to reuse.
    time.sleep(RECENT_NS / 1e9 + 0.1)
    return planted


def _name(t: int | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _points(rep: dict[str, Any]) -> dict[tuple[str, ...], tuple[str | None, ...]]:
    return {(g["namespace"], g["backup_type"], g["backup_id"]):
            (_name(g["last_restorable_time"]), _name(g["last_verified_ok_time"]))
            for g in rep["groups"]}


def test_real_shape(damaged: dict[str, Any]) -> None:
    assert damaged["chunk_dirs"] == 65536
    assert damaged["chunk_files"] >= 100_000
    assert damaged["garbage"] >= 1000


def test_restore_points_and_reclaim_match_the_reference(damaged: dict[str, Any],
                                                        tmp_path: Path) -> None:
    root, now = damaged["root"], damaged["newest"] + 6 * HOUR
    ref = reference(root, now)
    for state in (None, str(tmp_path / "state"), str(tmp_path / "state")):  # cold, warm, cached
        rep = scan_datastore(root, state_dir=state, now=now).as_dict()
        assert _points(rep) == ref["points"]
        ds = rep["datastore"]
        assert (ds["garbage_reclaimable_bytes"], ds["garbage_pending_bytes"],
                ds["garbage_pending_until"]) == (ref["reclaimable"], ref["pending"], ref["until"])
    assert rep["scan"]["result_cached"]
    # what was planted, spelled out
    g, s, pts = [tuple(k) for k in damaged["groups"]], damaged["snaps"], ref["points"]
    assert pts[g[0]] == (s[0][-2], s[0][-1])  # the newest lost a chunk
    assert pts[g[1]] == (None, s[1][-1])  # a chunk every snapshot has is bad
    assert pts[g[2]] == (s[2][1], s[2][-1])  # snapshots 2.. lost a chunk
    assert pts[g[3]] == (s[3][-2], s[3][-2])  # the newest failed verification
    assert pts[g[4]] == (s[4][-2], s[4][-1])  # a container: the newest's chunk is bad
    assert pts[g[5]] == (s[5][-1], s[5][-2])  # the newest is not verified yet
    assert pts[g[6]] == (s[6][-1], s[6][-1])
    assert ref["pending"] > 0 and ref["reclaimable"] > 0  # 16 garbage chunks still pending


def test_a_running_writer_and_a_short_cutoff(damaged: dict[str, Any]) -> None:
    root = damaged["root"]
    now, writer = damaged["newest"] + 6 * HOUR, damaged["newest"] - 48 * HOUR
    ref = reference(root, now, cutoff=3600, writer=writer)
    rep = scan_datastore(root, now=now, gc_rule=GcRule(3600, writer)).as_dict()
    ds = rep["datastore"]
    assert (ds["garbage_reclaimable_bytes"], ds["garbage_pending_bytes"]) == (
        ref["reclaimable"], ref["pending"])
    short = reference(root, now, cutoff=3600)
    assert ref["pending"] > short["pending"]  # the writer keeps two more days of garbage


def test_new_damage_moves_only_that_group(full_size_datastore: Path, tmp_path: Path) -> None:
    """A chunk only group 6's newest snapshot has is deleted after a scan with state: the
    warm rescan moves group 6's restore point one snapshot back and nothing else."""
    root = str(linked_copy(full_size_datastore))
    state = str(tmp_path / "state")
    before = _points(scan_datastore(root, state_dir=state).as_dict())
    hit = child("damage_newest", root=root, group=6)
    after = _points(scan_datastore(root, state_dir=state).as_dict())
    assert after == reference(root, 0)["points"]
    assert {k for k in before if before[k] != after[k]} == {tuple(hit["key"])}
    assert after[tuple(hit["key"])][0] == hit["previous"]


def test_scan_leaves_chunk_atimes_alone(full_size_datastore: Path, tmp_path: Path) -> None:
    before = child("atimes", root=str(full_size_datastore))
    scan_datastore(str(full_size_datastore), state_dir=str(tmp_path / "s"))
    assert child("atimes", root=str(full_size_datastore)) == before


# --- .gc-status and the atimes of a small demo ---------------------------------------------

def _gc_status(root: str, start: int, pending_chunks: int, pending_bytes: int) -> None:
    upid = f"UPID:pbs1:00001234:00005678:00000000:{start:08X}:garbage_collection:ds:root@pam:"
    Path(root, ".gc-status").write_text(json.dumps({
        "upid": upid, "index-file-count": 0, "index-data-bytes": 0, "disk-bytes": 0,
        "disk-chunks": 0, "removed-bytes": 0, "removed-chunks": 0,
        "pending-bytes": pending_bytes, "pending-chunks": pending_chunks,
        "removed-bad": 0, "still-bad": 0}))


def test_cross_check_with_gc_status(tmp_path: Path) -> None:
    root = str(tmp_path / "ds")
    build_demo(root, vms=1, cts=1, days=2, garbage=6, disk_chunks=4, pxar_chunks=3,
               start=1_800_000_000)
    newest = 1_800_000_000 + 86400 + 7200
    start = newest + 2 * HOUR  # a GC two hours after the newest backup
    # independently: what such a GC keeps pending = the reference's pending as of its start
    kept = reference(root, start)
    assert 0 < kept["pending_chunks"] < 6
    _gc_status(root, start, kept["pending_chunks"], kept["pending"])
    rep = scan_datastore(root, now=start + HOUR)
    assert DatastoreReport.from_dict(rep.as_dict()) == rep  # what the dedup child hands over
    check = rep.as_dict()["gc_check"]
    assert check["start"] == start
    assert (check["pending_chunks"], check["pending_bytes"]) == (
        check["pbs_pending_chunks"], check["pbs_pending_bytes"]) == (
        kept["pending_chunks"], kept["pending"])
    _gc_status(root, start, kept["pending_chunks"] + 3, 1)  # PBS saw more: visibly different
    check = scan_datastore(root, now=start + HOUR).as_dict()["gc_check"]
    assert check["pbs_pending_chunks"] == kept["pending_chunks"] + 3 != check["pending_chunks"]


def test_broken_gc_status_is_an_error_not_a_crash(tmp_path: Path) -> None:
    root = str(tmp_path / "ds")
    build_demo(root, vms=1, cts=0, days=1, disk_chunks=2)
    Path(root, ".gc-status").write_text('{"upid": "nonsense"}')
    rep = scan_datastore(root).as_dict()
    assert rep["gc_check"] is None
    assert [e["reason"][:21] for e in rep["errors"]] == ["not a PBS GC status: "]


def test_a_gc_makes_the_cached_atimes_stale(tmp_path: Path) -> None:
    """GC's mark phase changes atimes but no directory: after a GC (a newer .gc-status) the
    listing is taken again, so a re-touched garbage chunk reads as pending."""
    root = str(tmp_path / "ds")
    build_demo(root, vms=1, cts=0, days=2, garbage=3, disk_chunks=3)
    time.sleep(2.1)  # directories changed in the last 2 s are never taken from the state
    state = str(tmp_path / "state")
    now = 1_900_000_000
    first = scan_datastore(root, state_dir=state, now=now).as_dict()["datastore"]
    assert first["garbage_pending_bytes"] == 0  # the demo's 2024 garbage is long due
    assert reference(root, now)["pending"] == 0
    victim = child("touch_garbage", root=root, when=now - HOUR)
    stale = scan_datastore(root, state_dir=state, now=now).as_dict()
    assert stale["scan"]["result_cached"]  # no directory changed: the listing is reused
    _gc_status(root, now - 2 * HOUR, 0, 0)
    fresh = scan_datastore(root, state_dir=state, now=now).as_dict()
    assert not fresh["scan"]["result_cached"]
    assert fresh["datastore"]["garbage_pending_bytes"] == victim["size"]
    assert fresh["datastore"]["garbage_pending_until"] == now - HOUR + DEFAULT_CUTOFF_S
    assert reference(root, now)["pending"] == victim["size"]
