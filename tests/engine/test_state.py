"""Incremental state: rescans touch only what changed; damaged or killed state is rebuilt."""

from __future__ import annotations

import glob
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbs_agent import formats as f
from pbs_agent.engine import referenced_digest_prefixes, scan_datastore
from pbs_agent.state import StateStore, decode_record, encode_record

from .conftest import assert_matches_reference, normalized


def _age(root: str, seconds: int = 60) -> None:
    """Make every mtime old, as on a datastore not written in the last seconds."""
    t = time.time() - seconds
    os.utime(root, (t, t))
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            os.utime(os.path.join(dirpath, n), (t, t), follow_symlinks=False)


def _scan(root: str, state: Path):
    return scan_datastore(root, state_dir=str(state))


def test_rescan_unchanged_reads_nothing(small_demo: str, tmp_path: Path) -> None:
    _age(small_demo)
    cold = _scan(small_demo, tmp_path / "st")
    assert not cold.scan.result_cached and cold.scan.index_files_read > 0
    warm = _scan(small_demo, tmp_path / "st")
    assert warm.scan.result_cached
    assert (warm.scan.index_files_read, warm.scan.chunk_dirs_listed) == (0, 0)
    assert normalized(warm.as_dict()) == normalized(cold.as_dict())


def test_new_snapshot_reads_only_its_index(small_demo: str, tmp_path: Path) -> None:
    _age(small_demo)
    _scan(small_demo, tmp_path / "st")
    gdir = os.path.join(small_demo, "vm", "100")
    last = sorted(glob.glob(os.path.join(gdir, "*Z")))[-1]
    new = os.path.join(gdir, "2030-01-01T00:00:00Z")
    os.mkdir(new)
    for fn in os.listdir(last):
        with open(os.path.join(last, fn), "rb") as src, open(os.path.join(new, fn), "wb") as dst:
            dst.write(src.read())
    digest, payload = f.chunk_digest(b"brand new"), f.encode_blob(b"brand new")
    hx = digest.hex()
    os.makedirs(os.path.join(small_demo, ".chunks", hx[:4]), exist_ok=True)
    Path(small_demo, ".chunks", hx[:4], hx).write_bytes(payload)
    Path(new, "extra.img.fidx").write_bytes(f.encode_fidx([digest], size=9))
    _age(new)
    _age(os.path.join(small_demo, ".chunks", hx[:4]))
    rep = _scan(small_demo, tmp_path / "st")
    assert rep.scan.index_files_read == 2 and rep.scan.chunk_dirs_listed == 1
    assert not rep.scan.result_cached
    assert_matches_reference(rep.as_dict(), small_demo)
    assert rep.group("", "vm", "100").last_new_bytes == len(payload)


def test_recent_changes_are_never_trusted_from_state(small_demo: str, tmp_path: Path) -> None:
    """A chunk dir changed less than 2 s ago is listed again on the next scan."""
    for d in glob.glob(os.path.join(small_demo, ".chunks", "*")):
        os.utime(d)  # changed just now
    _scan(small_demo, tmp_path / "st")
    again = _scan(small_demo, tmp_path / "st")
    assert not again.scan.result_cached and again.scan.chunk_dirs_listed > 0
    cdir = sorted(glob.glob(os.path.join(small_demo, ".chunks", "*")))[0]
    name = sorted(os.listdir(cdir))[0]
    os.unlink(os.path.join(cdir, name))  # same second as the scan: mtime may not move
    rep = _scan(small_demo, tmp_path / "st")
    assert_matches_reference(rep.as_dict(), small_demo)


def test_removed_group_state_is_forgotten(small_demo: str, tmp_path: Path) -> None:
    _age(small_demo)
    first = _scan(small_demo, tmp_path / "st")
    store = first.scan.state_dir
    n_before = len([n for n in os.listdir(store) if n.startswith("g-")])
    import shutil

    shutil.rmtree(os.path.join(small_demo, "ct", "100"))
    _age(small_demo)
    rep = _scan(small_demo, tmp_path / "st")
    assert len([n for n in os.listdir(store) if n.startswith("g-")]) == n_before - 1
    assert_matches_reference(rep.as_dict(), small_demo)


def test_damaged_state_files_are_rebuilt(small_demo: str, tmp_path: Path) -> None:
    _age(small_demo)
    clean = normalized(scan_datastore(small_demo).as_dict())
    rng = random.Random(5)
    for round_ in range(6):
        rep = _scan(small_demo, tmp_path / "st")
        assert normalized(rep.as_dict()) == clean, round_
        records = glob.glob(os.path.join(rep.scan.state_dir, "**"), recursive=True)
        for path in filter(os.path.isfile, records):  # index records live in subdirs
            data = bytearray(Path(path).read_bytes())
            if round_ % 2:
                data[rng.randrange(len(data))] ^= 0x40
            else:
                del data[rng.randrange(len(data)) :]
            Path(path).write_bytes(bytes(data))
    assert normalized(_scan(small_demo, tmp_path / "st").as_dict()) == clean


KILLER = """
import os, random, sys, time
from pbs_agent.engine import scan_datastore
root, state = sys.argv[1], sys.argv[2]
rng = random.Random(os.getpid())
while True:
    sdir = os.path.join(state, "datastores")
    for dirpath, _, files in os.walk(sdir):
        for fn in files:
            if rng.random() < 0.5:
                os.unlink(os.path.join(dirpath, fn))
    started = time.monotonic()
    scan_datastore(root, state_dir=state)
    print(f"scan {time.monotonic() - started:.3f}", flush=True)
"""


def test_kill_9_during_state_writes_never_gives_a_wrong_report(small_demo, tmp_path) -> None:
    """A writer is killed at random moments (it rewrites the state in a loop); afterwards the
    state either loads or is rebuilt, and the report is the stateless one."""
    _age(small_demo)
    clean = normalized(scan_datastore(small_demo).as_dict())
    state = tmp_path / "st"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
    rng = random.Random(11)
    scans = 0
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", KILLER, small_demo, str(state)],
                                stdout=subprocess.PIPE, env=env, text=True)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # imports done, one full scan written
        # kill anywhere in the next two scans, however slow this machine is right now
        time.sleep(rng.uniform(0.0, 2 * float(first.split()[1])))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        scans += 1 + out.count("scan")
        rep = _scan(small_demo, state)
        assert normalized(rep.as_dict()) == clean
    assert scans > 12


def test_unwritable_state_dir_warns_once_and_scans(small_demo: str, tmp_path: Path,
                                                  capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rep = scan_datastore(small_demo, state_dir=str(blocker / "state"))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "without persisted state" in err
    assert rep.scan.state_dir is None and rep.datastore.snapshots > 0


def test_state_never_written_under_datastore(small_demo: str, tmp_path: Path) -> None:
    before = sorted(os.walk(small_demo))
    rep = _scan(small_demo, tmp_path / "st")
    assert not rep.scan.state_dir.startswith(small_demo)
    assert sorted(os.walk(small_demo)) == before


def test_referenced_digest_prefixes(small_demo: str, tmp_path: Path) -> None:
    got = referenced_digest_prefixes(small_demo, state_dir=str(tmp_path / "st"))
    want = set()
    for p in glob.glob(os.path.join(small_demo, "**", "*.[fd]idx"), recursive=True):
        want |= {f.digest_prefix(d) for d in f.read_index(p).digest_list()}
    assert got.dtype == np.uint64 and list(got) == sorted(want)
    again = referenced_digest_prefixes(small_demo, state_dir=str(tmp_path / "st"))
    assert np.array_equal(got, again)


def test_record_roundtrip() -> None:
    arrays = {"a": np.arange(5, dtype=np.uint64), "b": np.array([1, 2], np.uint32)}
    rec = decode_record(encode_record({"x": [1, "y"]}, arrays))
    assert rec is not None and rec.meta == {"x": [1, "y"]}
    assert all(np.array_equal(rec.arrays[k], v) for k, v in arrays.items())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=400))
def test_any_damage_to_a_record_is_detected(noise: bytes, cut: int) -> None:
    good = encode_record({"k": 1}, {"a": np.arange(3, dtype=np.uint64)})
    for data in (noise, good[:cut], good[:cut] + noise + good[cut + len(noise):]):
        if data != good:
            assert decode_record(data) is None


def test_store_save_load_and_stale_temp_cleanup(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    ds.mkdir()
    store = StateStore.open(str(tmp_path / "st"), str(ds))
    assert store is not None
    store.save("r", {"v": 2}, {})
    stale = Path(store.path("r.tmp-1-2"))
    stale.write_bytes(b"partial")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = Path(store.path("r.tmp-3-4"))
    fresh.write_bytes(b"being written")
    store = StateStore.open(str(tmp_path / "st"), str(ds))
    assert store is not None and store.load("r").meta == {"v": 2}
    assert not stale.exists() and fresh.exists() and store.names() == ["r"]


@pytest.mark.parametrize("bad", [b"", b"PBSAGST\x01" + b"\0" * 40])
def test_short_or_empty_records_are_absent(bad: bytes) -> None:
    assert decode_record(bad) is None


@pytest.mark.parametrize("lost", [("chunks", "result"), ("chunks",), ("chunk-dirs",)])
def test_partial_state_loss_is_rebuilt(small_demo: str, tmp_path: Path, lost) -> None:
    """Directory mtimes kept but the arrays (or the cached result) gone: list again."""
    _age(small_demo)
    clean = normalized(scan_datastore(small_demo).as_dict())
    first = _scan(small_demo, tmp_path / "st")
    for name in lost:
        os.unlink(os.path.join(first.scan.state_dir, name))
    cdir = sorted(glob.glob(os.path.join(small_demo, ".chunks", "*")))[0]
    os.unlink(os.path.join(cdir, sorted(os.listdir(cdir))[0]))
    _age(cdir)
    rep = _scan(small_demo, tmp_path / "st")
    assert_matches_reference(rep.as_dict(), small_demo)
    assert normalized(rep.as_dict()) != clean
    if lost == ("chunks",):
        rep2 = _scan(small_demo, tmp_path / "st")
        assert normalized(rep2.as_dict()) == normalized(rep.as_dict())


def test_unchanged_dirs_but_lost_arrays_and_result(small_demo: str, tmp_path: Path) -> None:
    """Nothing changed, yet the chunk arrays and result are gone: the lazy loader relists."""
    _age(small_demo)
    clean = normalized(scan_datastore(small_demo).as_dict())
    first = _scan(small_demo, tmp_path / "st")
    for name in ("chunks", "result"):
        os.unlink(os.path.join(first.scan.state_dir, name))
    rep = _scan(small_demo, tmp_path / "st")
    assert rep.scan.chunk_dirs_listed == 0 and not rep.scan.result_cached
    assert normalized(rep.as_dict()) == clean


def test_group_record_removed_by_a_concurrent_scan(small_demo: str, tmp_path: Path,
                                                  monkeypatch) -> None:
    """Spilled group sets that vanish before the attribution are computed again."""
    from pbs_agent.engine import groups as groups_mod
    from pbs_agent.engine import scan as scan_mod

    _age(small_demo)
    real, real_compute = scan_mod._compute, groups_mod.compute_group
    rebuilt: list[str] = []

    def counting_compute(group, store, t0, sig):
        if store is None:
            rebuilt.append(group.backup_id)
        return real_compute(group, store, t0, sig)

    monkeypatch.setattr(groups_mod, "compute_group", counting_compute)

    def remove_then_compute(walk, refs, listing, stats, *rest):
        for r in refs:
            if r._store is not None and r._record is not None:
                r._store.remove(r._record)
        return real(walk, refs, listing, stats, *rest)

    monkeypatch.setattr(scan_mod, "_compute", remove_then_compute)
    for _ in range(2):  # the second scan takes the saved result: nothing to rebuild
        rep = _scan(small_demo, tmp_path / "st")
        assert_matches_reference(rep.as_dict(), small_demo)
    assert len(rebuilt) == len(rep.groups) and rep.scan.result_cached
