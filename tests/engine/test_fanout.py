"""The chunk listing shared with a forked child: same result as in-process, and a child
that dies or fails never loses a part (its undelivered parts are run again here)."""

from __future__ import annotations

import os
import signal
import time
import tracemalloc

import numpy as np
import pytest

from pbs_agent.engine import chunks, fanout, scan_datastore
from pbs_agent.engine.fanout import run_split

from .conftest import assert_matches_reference, normalized


def _in_child(parent: int) -> bool:
    return os.getpid() != parent


def test_run_split_results_in_order_and_shared() -> None:
    seen = []

    def slow_square(x: int) -> int:
        time.sleep(0.01)
        return x * x

    split = run_split(slow_square, list(range(60)), seen.append)
    assert split.results == [x * x for x in range(60)]
    assert sorted(seen) == sorted(split.results)  # on_result once per part, both sides
    assert not split.child_failed and split.rerun == 0
    assert 0 < split.by_child < 60  # both processes took parts


@pytest.mark.parametrize("how", ["kill", "raise"])
def test_child_death_reruns_its_part(how: str, capfd: pytest.CaptureFixture) -> None:
    parent = os.getpid()
    seen = []

    def fn(x: int) -> int:
        if _in_child(parent):
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("child failure")
        time.sleep(0.02)
        return x + 1

    split = run_split(fn, list(range(40)), seen.append)
    assert split.results == [x + 1 for x in range(40)]
    assert split.child_failed and split.by_child == 0 and split.rerun == 1
    assert len(seen) == 40
    assert capfd.readouterr().err == ""  # a failed child stays quiet


def test_child_peak_is_reported_when_tracing() -> None:
    tracemalloc.start()
    try:
        split = run_split(lambda n: np.ones(n, np.uint8).sum(), [1 << 20] * 8)
    finally:
        tracemalloc.stop()
    assert split.results == [1 << 20] * 8
    assert split.parent_peak_traced > 0
    if split.by_child:  # the child ran a part: its 1 MiB temporary is in its peak
        assert split.child_peak_traced >= 1 << 20


def _listing(root: str, processes: int) -> chunks.ChunkListing:
    return chunks.list_chunks(root, None, time.time_ns(), processes=processes)


def _same(a: chunks.ChunkListing, b: chunks.ChunkListing) -> None:
    for x, y in zip(a.arrays(), b.arrays(), strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    assert a.issues == b.issues and a.fingerprint == b.fingerprint


def test_listing_with_child_equals_in_process(small_demo: str) -> None:
    one, two = _listing(small_demo, 1), _listing(small_demo, 2)
    assert (one.processes, two.processes) == (1, 2)
    assert len(one.prefixes) > 0
    _same(one, two)


def test_listing_survives_a_killed_child(small_demo: str, monkeypatch) -> None:
    parent, real = os.getpid(), chunks.list_batch

    def dying(*args):
        if _in_child(parent):
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.01)  # leave the child time to claim a part
        return real(*args)

    expected = _listing(small_demo, 1)
    monkeypatch.setattr(chunks, "SPLIT_BATCH", 1)
    monkeypatch.setattr(chunks, "list_batch", dying)
    got = _listing(small_demo, 2)
    assert got.processes == 1  # reported as done here
    _same(expected, got)


def test_scan_report_same_with_and_without_child(small_demo: str, monkeypatch) -> None:
    monkeypatch.setattr(chunks, "MIN_SPLIT_DIRS", 0)
    monkeypatch.setattr(chunks, "usable_cpus", lambda: 2)
    two = scan_datastore(small_demo)
    monkeypatch.setattr(chunks, "usable_cpus", lambda: 1)  # a one-CPU host: no child
    one = scan_datastore(small_demo)
    assert (two.scan.listing_processes, one.scan.listing_processes) == (2, 1)
    assert normalized(two.as_dict()) == normalized(one.as_dict())
    assert_matches_reference(two.as_dict(), small_demo)


def test_usable_cpus_is_positive() -> None:
    assert fanout.usable_cpus() >= 1


def test_rescan_after_a_chunk_dir_vanished(small_demo: str, tmp_path) -> None:
    """A whole chunk directory removed between scans: its chunks are gone from the report."""
    state = str(tmp_path / "st")
    scan_datastore(small_demo, state_dir=state)
    cdir = os.path.join(small_demo, ".chunks")
    victim = next(d for d in sorted(os.listdir(cdir)) if os.listdir(os.path.join(cdir, d)))
    for name in os.listdir(os.path.join(cdir, victim)):
        os.unlink(os.path.join(cdir, victim, name))
    os.rmdir(os.path.join(cdir, victim))
    rep = scan_datastore(small_demo, state_dir=state)
    assert_matches_reference(rep.as_dict(), small_demo)
    assert normalized(rep.as_dict()) == normalized(scan_datastore(small_demo).as_dict())


def test_mtimes_with_child_equal_in_process(small_demo: str) -> None:
    fd = os.open(os.path.join(small_demo, ".chunks"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        one = chunks._all_stamps(fd, chunks.ALL_DIRS, 1)
        two = chunks._all_stamps(fd, chunks.ALL_DIRS, 2)
    finally:
        os.close(fd)
    assert np.array_equal(one, two) and (one >= 0).sum() == len(os.listdir(
        os.path.join(small_demo, ".chunks")))


def test_hung_child_is_stopped(monkeypatch) -> None:
    monkeypatch.setattr(fanout, "STALL_S", 0.5)
    parent = os.getpid()

    def fn(x: int) -> int:
        if _in_child(parent):
            time.sleep(3600)  # hangs (e.g. a lock held at fork time)
        time.sleep(0.02)
        return -x

    t = time.monotonic()
    split = run_split(fn, list(range(10)))
    assert split.results == [-x for x in range(10)]
    assert split.child_stopped and split.child_failed and split.rerun == 1
    assert time.monotonic() - t < 30
