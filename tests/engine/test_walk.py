"""The datastore walk: namespaces, groups, snapshots, markers, one edge case at a time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pbs_agent import formats as f
from pbs_agent.datastore import snapshot_time, walk_datastore
from pbs_agent.engine import scan_datastore

T1, T2 = "2024-06-05T10:00:00Z", "2024-06-06T10:00:00Z"


def _snap(root: Path, rel: str, *, finished: bool = True, files: dict[str, bytes] | None = None,
          protected: bool = False) -> Path:
    d = root / rel
    d.mkdir(parents=True)
    for name, data in (files or {}).items():
        (d / name).write_bytes(data)
    if finished:
        parts = rel.split("/")
        btype, bid = parts[-3], parts[-2]
        (d / "index.json.blob").write_bytes(
            f.encode_manifest(btype, bid, snapshot_time(parts[-1]) or 0, []))
    if protected:
        (d / ".protected").write_bytes(b"")
    return d


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / ".chunks").mkdir()
    return tmp_path


def test_snapshot_time_parses_rfc3339_and_rejects_others() -> None:
    assert snapshot_time(T1) == 1717581600
    assert snapshot_time("2024-02-29T23:59:59Z") == 1709251199
    for bad in ("2024-06-05T10:00:00", "2024-06-05 10:00:00Z", "2024-02-30T10:00:00Z", "x",
                "2023-02-29T10:00:00Z", "2024-06-05T24:00:00Z", "0000-01-01T00:00:00Z"):
        assert snapshot_time(bad) is None


def test_nested_namespaces_up_to_depth_7(root: Path) -> None:
    ns7 = "/".join(f"ns/n{i}" for i in range(7))
    ns8 = ns7 + "/ns/n7"
    _snap(root, f"{ns7}/vm/1/{T1}")
    _snap(root, f"{ns8}/vm/2/{T1}")
    walk = walk_datastore(str(root))
    assert [(g.namespace, g.backup_id) for g in walk.groups] == [
        ("n0/n1/n2/n3/n4/n5/n6", "1")]
    assert any("deeper than 7" in i.reason and i.path.endswith("ns/n7") for i in walk.issues)


def test_groups_types_owner_and_invalid_names(root: Path) -> None:
    _snap(root, f"vm/100/{T1}")
    _snap(root, f"ct/100/{T1}")
    _snap(root, f"host/backup-srv.example/{T1}")
    (root / "vm" / "100" / "owner").write_text("user@pbs!token\nsecond line\n")
    (root / "vm" / "-bad").mkdir()
    (root / "ns" / "bad name").mkdir(parents=True)
    (root / "other").mkdir()  # unknown top-level directory: ignored
    walk = walk_datastore(str(root))
    keys = sorted(g.key for g in walk.groups)
    assert keys == [("", "ct", "100"), ("", "host", "backup-srv.example"), ("", "vm", "100")]
    assert {g.key: g.owner for g in walk.groups}[("", "vm", "100")] == "user@pbs!token"
    reasons = {os.path.basename(i.path): i.reason for i in walk.issues}
    assert reasons == {"-bad": "not a valid backup id: skipped",
                       "bad name": "not a valid namespace name: skipped"}


def test_snapshot_markers_finished_protected_tmp(root: Path) -> None:
    idx = f.encode_fidx([bytes(32)], size=10)
    _snap(root, f"vm/1/{T1}", files={"a.img.fidx": idx, "b.img.tmp_fidx": idx}, protected=True)
    _snap(root, f"vm/1/{T2}", finished=False, files={"a.img.fidx": idx})
    (root / "vm" / "1" / "notes").write_text("group notes")
    (root / "vm" / "1" / "2024-06-07T10:00:00Z").write_text("a file, not a dir")
    walk = walk_datastore(str(root))
    (g,) = walk.groups
    s1, s2 = g.snapshots
    assert (s1.finished, s1.protected, s2.finished, s2.protected) == (True, True, False, False)
    assert [(r.name, r.tmp) for r in s1.indexes] == [("a.img.fidx", False),
                                                      ("b.img.tmp_fidx", True)]
    assert [s.name for s in g.finished] == [T1]
    assert [i.reason for i in walk.issues] == ["not a snapshot directory: skipped"]


def test_chunk_dir_name_classification(root: Path) -> None:
    digest = f.chunk_digest(b"x")
    hx = digest.hex()
    cdir = root / ".chunks" / hx[:4]
    cdir.mkdir()
    (cdir / hx).write_bytes(f.encode_blob(b"x"))
    (cdir / f"{hx}.0.bad").write_bytes(b"corrupt")
    (cdir / f"{hx}.tmp_a1B2c3").write_bytes(b"partial")
    (cdir / hx.upper()).write_bytes(b"upper case: not a chunk")
    other = root / ".chunks" / "0000"
    other.mkdir(exist_ok=True)
    (other / ("ff" * 32)).write_bytes(b"in the wrong directory")
    rep = scan_datastore(str(root))
    ds = rep.datastore
    assert (ds.chunks_on_disk, ds.bad_chunks, ds.garbage_chunks) == (1, 1, 1)
    assert hx[:4] != "0000"  # sha256(b"x") lives in 2d71
    assert [e.reason for e in rep.errors] == ["chunk file in the wrong directory: ignored"]


def test_empty_datastore(root: Path) -> None:
    rep = scan_datastore(str(root)).as_dict()
    assert rep["groups"] == [] and rep["errors"] == []
    assert rep["datastore"]["dedup_factor"] is None
    assert rep["datastore"]["garbage_pending_until"] is None
    assert all(v == 0 for k, v in rep["datastore"].items()
               if k not in ("path", "dedup_factor", "garbage_pending_until"))


def test_directory_without_chunk_store(tmp_path: Path) -> None:
    """Not a datastore (or an unmounted one): a named error, not a report of zeros."""
    from pbs_agent.errors import SourceError

    with pytest.raises(SourceError, match=r"not a PBS datastore \(no \.chunks\)") as err:
        scan_datastore(str(tmp_path))
    assert err.value.path == str(tmp_path)


def test_unusable_path_raises_source_error(tmp_path: Path) -> None:
    from pbs_agent.errors import SourceError

    with pytest.raises(SourceError, match="no such datastore directory"):
        scan_datastore(str(tmp_path / "absent"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(SourceError, match="not a directory"):
        scan_datastore(str(tmp_path / "file"))
