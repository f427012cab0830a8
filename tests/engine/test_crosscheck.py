"""The engine's numbers against a plain set-based computation of the issue's definitions."""

from __future__ import annotations

import os

import pytest

from pbs_agent import formats as f
from pbs_agent.demo import build_demo
from pbs_agent.engine import scan_datastore

from .conftest import assert_matches_reference, reference_report


def _garbage(root: str) -> list[bytes]:
    rep = reference_report(root)
    assert rep["datastore"]["garbage_chunks"] >= 2
    referenced = set()
    for dirpath, _, files in os.walk(root):
        for fn in files:
            if fn.endswith(("idx",)):
                with open(os.path.join(dirpath, fn), "rb") as fh:
                    referenced.update(f.parse_index(fh.read()).digest_list())
    on_disk = [bytes.fromhex(n) for d in os.listdir(os.path.join(root, ".chunks"))
               for n in os.listdir(os.path.join(root, ".chunks", d)) if len(n) == 64]
    return sorted(d for d in on_disk if d not in referenced)


def test_demo_matches_reference(small_demo: str) -> None:
    rep = scan_datastore(small_demo).as_dict()
    assert_matches_reference(rep, small_demo)
    ds = rep["datastore"]
    # built with missing=1, bad=1: the chunk renamed to .bad is bad, not also missing
    assert ds["garbage_chunks"] == 2 and ds["missing_chunks"] == 1 and ds["bad_chunks"] == 1
    assert ds["dedup_factor"] == round(ds["logical_bytes"] / ds["physical_bytes"], 4)


def test_unfinished_and_tmp_indexes_protect_chunks_but_do_not_count(small_demo: str) -> None:
    g1, g2 = _garbage(small_demo)
    before = scan_datastore(small_demo).datastore
    snap = os.path.join(small_demo, "vm", "100", "2030-01-01T00:00:00Z")
    os.makedirs(snap)
    with open(os.path.join(snap, "drive-scsi0.img.fidx"), "wb") as fh:
        fh.write(f.encode_fidx([g1], size=100))
    finished = sorted(os.listdir(os.path.join(small_demo, "vm", "100")))[0]
    with open(os.path.join(small_demo, "vm", "100", finished, "x.img.tmp_fidx"), "wb") as fh:
        fh.write(f.encode_fidx([g2], size=100))
    rep = scan_datastore(small_demo).as_dict()
    assert_matches_reference(rep, small_demo)
    ds = rep["datastore"]
    assert ds["garbage_chunks"] == before.garbage_chunks - 2
    assert ds["snapshots"] == before.snapshots and ds["index_files"] == before.index_files
    assert ds["physical_bytes"] == before.physical_bytes


def test_same_id_different_type_are_different_groups(small_demo: str) -> None:
    rep = scan_datastore(small_demo)
    keys = {(g.backup_type, g.backup_id) for g in rep.groups if g.namespace == ""}
    assert ("vm", "100") in keys and ("ct", "100") in keys
    assert rep.group("", "vm", "100") is not rep.group("", "ct", "100")


def test_groups_sorted_by_exclusive_bytes(small_demo: str) -> None:
    rep = scan_datastore(small_demo)
    excl = [g.exclusive_bytes for g in rep.groups]
    assert excl == sorted(excl, reverse=True) and excl[0] > 0


@pytest.mark.parametrize("seed", [1, 2])
def test_shared_template_chunks_are_not_exclusive(tmp_path, seed: int) -> None:
    root = str(tmp_path / "ds")
    build_demo(root, vms=3, cts=0, days=2, change_rate=0.5, seed=seed, disk_chunks=5,
               namespaces=False)
    rep = scan_datastore(root).as_dict()
    assert_matches_reference(rep, root)
    groups = rep["groups"]
    assert all(g["exclusive_bytes"] < g["referenced_bytes"] for g in groups)
    assert sum(g["exclusive_bytes"] for g in groups) < rep["datastore"]["physical_bytes"]


def test_manifest_fields(small_demo: str) -> None:
    rep = scan_datastore(small_demo)
    vm100, vm101 = rep.group("", "vm", "100"), rep.group("prod", "vm", "101")
    assert vm100 is not None and vm101 is not None
    assert vm100.comment == "Nightly vm 100" and vm100.last_verify_state == "none"
    assert vm100.protected_snapshots == 1 and vm100.owner == "root@pam"
    assert vm101.last_verify_state == "failed"
    assert vm100.first_backup_time < vm100.last_backup_time
    ct = rep.group("prod/web", "ct", "101")
    assert ct is not None and ct.owner == "sync@pbs!nightly" and ct.last_verify_state == "ok"
