"""The no-state group union keeps only slots that changed from the previous snapshot: it
must equal the plain union of all snapshots, whatever the sequence."""

from __future__ import annotations

import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pbs_agent.datastore import walk_datastore
from pbs_agent.engine import groups
from pbs_agent.engine.groups import ChangedSlots, compute_group, signature
from pbs_agent.state import StateStore

snapshots = st.lists(st.lists(st.integers(0, 40), max_size=12), max_size=10)


@given(snapshots, st.integers(0, 2))
@settings(max_examples=300, deadline=None)
def test_union_equals_plain_union(snaps: list[list[int]], merge_every: int) -> None:
    acc, prev = ChangedSlots(), np.zeros(0, np.uint64)
    for s in snaps:
        cur = np.array(s, dtype=np.uint64)
        acc.add(prev, cur)
        if merge_every and len(acc.pieces) >= merge_every:
            acc._merge()  # merges at any point change nothing
        prev = cur
    expected = sorted({v for s in snaps for v in s})
    assert acc.union().tolist() == expected


def test_big_pieces_are_merged_early() -> None:
    acc = ChangedSlots()
    rng = np.random.default_rng(1)
    prev = np.zeros(0, np.uint64)
    for _ in range(5):
        cur = rng.integers(0, 2**63, 70_000, dtype=np.uint64)
        acc.add(prev, cur)
        prev = cur
        assert acc.pending <= max(len(acc.merged), 1 << 16)  # memory stays bounded


def test_group_arrays_same_with_and_without_state(small_demo: str, tmp_path) -> None:
    store = StateStore.open(str(tmp_path / "st"), small_demo)
    t0 = time.time_ns()
    walk = walk_datastore(small_demo)
    assert walk.groups
    for g in walk.groups:
        plain = compute_group(g, None, t0, signature(g)).arrays()
        stated = compute_group(g, store, t0, signature(g)).arrays()
        for a, b in zip(plain, stated, strict=True):
            assert np.array_equal(a, b)
    assert groups.sorted_unique(np.array([3, 1, 3], np.uint64)).tolist() == [1, 3]
