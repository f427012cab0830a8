"""Prune selection: PBS's own test cases as vectors, a strftime-based reference, properties."""

from __future__ import annotations

import calendar
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbs_agent.assurance.prune import (
    KEEP_ALL,
    RULES,
    KeepOptions,
    Mark,
    SnapshotInfo,
    compute_prune_info,
    plan,
    shortfall,
)
from pbs_agent.errors import ConfigError

VECTORS = json.loads((Path(__file__).parent / "pbs_prune_vectors.json").read_text())


def _epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def _name(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _options(opts: dict[str, int]) -> KeepOptions:
    return KeepOptions.from_props({k: str(v) for k, v in opts.items()})


@pytest.fixture
def local_tz(request) -> Iterator[None]:
    """Set the process's local time zone (TZ) for one test, restore it afterwards."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_the_vectors_are_all_of_pbs_tests() -> None:
    prov = VECTORS["provenance"]
    assert prov["repository"] == "proxmox/proxmox-backup" and prov["path"] == "tests/prune.rs"
    tests = [c["test"] for c in VECTORS["cases"]]
    assert len(tests) == 22
    assert {t: tests.count(t) for t in set(tests)} == {
        "test_prune_protected": 2, "test_prune_hourly": 2, "test_prune_simple2": 5,
        "test_prune_simple": 13}


@pytest.mark.parametrize("case", VECTORS["cases"],
                         ids=[f"{c['test']}-{'-'.join(f'{k}={v}' for k, v in c['options'].items())}"
                              for c in VECTORS["cases"]])
@pytest.mark.parametrize("local_tz", ["UTC"], indirect=True)
def test_pbs_vector(case: dict, local_tz: None) -> None:
    """PBS's test harness (get_prune_list) on the bare algorithm, in local time = UTC."""
    snaps = [SnapshotInfo(_epoch(i["time"]), protected=i["protected"]) for i in case["input"]]
    decisions = compute_prune_info(snaps, _options(case["options"]))
    wanted = case["asked"] == "kept"
    got = [_name(d.snapshot.time) for d in reversed(decisions) if d.keep == wanted]
    assert got == case["expected"]


def test_a_vector_with_a_wrong_expectation_fails() -> None:
    """The vector check can fail: T3 daily=1,weekly=1,monthly=1 keeps 11-22, not 11-29."""
    case = next(c for c in VECTORS["cases"] if c["options"] == {
        "keep-daily": 1, "keep-weekly": 1, "keep-monthly": 1})
    snaps = [SnapshotInfo(_epoch(i["time"])) for i in case["input"]]
    kept = [_name(d.snapshot.time) for d in reversed(
        compute_prune_info(snaps, _options(case["options"]), tz=UTC)) if d.keep]
    assert kept == case["expected"] == [
        "2019-11-22T11:59:15Z", "2019-12-01T11:59:15Z", "2019-12-04T11:59:15Z"]
    assert "2019-11-29T11:59:15Z" not in kept  # removed by the weekly pass, not re-picked


@pytest.mark.parametrize("local_tz", ["Europe/Vienna"], indirect=True)
def test_slots_are_local_time(local_tz: None) -> None:
    """23:30 UTC on 2019-12-01 is 00:30 on 12-02 in Vienna: a different day than 12:00 UTC."""
    late, noon = SnapshotInfo(_epoch("2019-12-01T23:30:00Z")), \
        SnapshotInfo(_epoch("2019-12-01T12:00:00Z"))
    local = plan([late, noon], KeepOptions(daily=2))
    utc = plan([late, noon], KeepOptions(daily=2), tz=UTC)
    assert [d.mark for d in local] == [Mark.KEEP, Mark.KEEP]
    assert [d.mark for d in utc] == [Mark.KEEP, Mark.REMOVE]


def test_iso_weeks_cross_the_calendar_year() -> None:
    """2019-12-30 is ISO week 2020-W01, the same week as 2020-01-02; 2019-12-29 is 2019-W52."""
    snaps = [SnapshotInfo(_epoch(t)) for t in (
        "2019-12-29T12:00:00Z", "2019-12-30T12:00:00Z", "2020-01-02T12:00:00Z")]
    kept = [d.snapshot for d in plan(snaps, KeepOptions(weekly=5), tz=UTC) if d.keep]
    assert [_name(s.time) for s in kept] == ["2020-01-02T12:00:00Z", "2019-12-29T12:00:00Z"]
    yearly = [d for d in plan(snaps, KeepOptions(yearly=5), tz=UTC) if d.keep]
    assert [_name(d.snapshot.time) for d in yearly] == [
        "2020-01-02T12:00:00Z", "2019-12-30T12:00:00Z"]


def test_unfinished_snapshots() -> None:
    """Only the newest snapshot may stay unfinished (keep-partial); older ones are removed."""
    base = _epoch("2024-06-01T00:00:00Z")
    snaps = [SnapshotInfo(base + 3600 * i, finished=i not in (1, 4)) for i in range(5)]
    got = {d.snapshot.time - base: (d.mark, d.rule)
           for d in plan(snaps, KeepOptions(last=10), tz=UTC)}
    assert got[4 * 3600] == (Mark.KEEP_PARTIAL, "keep-partial")
    assert got[1 * 3600] == (Mark.REMOVE, None)
    assert [got[h * 3600][0] for h in (0, 2, 3)] == [Mark.KEEP] * 3


def test_protected_wins_over_an_unfinished_removal() -> None:
    base = _epoch("2024-06-01T00:00:00Z")
    snaps = [SnapshotInfo(base, finished=False, protected=True), SnapshotInfo(base + 60)]
    assert [d.mark for d in plan(snaps, KeepOptions(last=1), tz=UTC)] == [
        Mark.KEEP, Mark.PROTECTED]


def test_keep_all_when_nothing_is_kept() -> None:
    snaps = [SnapshotInfo(1_700_000_000 + 86400 * i) for i in range(3)]
    for opts in (KeepOptions(), KeepOptions(last=0, daily=0)):
        assert {(d.mark, d.rule) for d in plan(snaps, opts)} == {(Mark.KEEP, KEEP_ALL)}
        assert shortfall(plan(snaps, opts), opts) == {}
    assert {d.mark for d in compute_prune_info(snaps, KeepOptions(last=0))} == {Mark.REMOVE}


def test_rules_say_what_kept_a_snapshot() -> None:
    day = 86400
    snaps = [SnapshotInfo(_epoch("2024-01-01T06:00:00Z") + day * i) for i in range(60)]
    decisions = plan(snaps, KeepOptions(last=2, daily=3, monthly=2), tz=UTC)
    rules = [d.rule for d in decisions if d.keep]
    # 2024-01-01 .. 02-29: last and daily keep February days, monthly adds only January
    assert rules == ["keep-last"] * 2 + ["keep-daily"] * 3 + ["keep-monthly"]
    assert shortfall(decisions, KeepOptions(last=2, daily=3, monthly=2)) == {
        "keep-last": 0, "keep-daily": 0, "keep-monthly": 1}
    assert shortfall(decisions[:2] + decisions[-1:], KeepOptions(last=2, daily=3)) == {
        "keep-last": 0, "keep-daily": 3}


@pytest.mark.parametrize("props", [{"keep-daily": "-1"}, {"keep-daily": "x"},
                                   {"keep-last": "1.5"}, {"keep-weekly": ""}])
def test_bad_options_are_config_errors(props: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=next(iter(props))):
        KeepOptions.from_props(props, "prune.cfg job x")


# --- an independent reference: PBS's strftime slot strings and its list of marks -----------

_FORMATS = {"keep-hourly": "%Y/%m/%d/%H", "keep-daily": "%Y/%m/%d", "keep-weekly": "%G/%V",
            "keep-monthly": "%Y/%m", "keep-yearly": "%Y"}


def _reference(snaps: list[SnapshotInfo], opts: KeepOptions) -> list[tuple[int, str]]:
    """(time, mark) newest first, written from prune.rs again with strftime slot strings."""
    lst = sorted(snaps, key=lambda s: -s.time)
    mark: dict[int, str] = {}
    first = True
    for s in lst:
        if not s.finished:
            mark[s.time] = "keep-partial" if first else "remove"
        first = False  # any snapshot, finished or not, ends the "newest" position
    for rule, n in opts.items():
        def sel(s: SnapshotInfo, rule: str = rule) -> str:
            if rule == "keep-last":
                return _name(s.time)
            return time.strftime(_FORMATS[rule], time.gmtime(s.time))
        included = {sel(s) for s in lst if mark.get(s.time) == "keep"}
        hashes: list[str] = []
        for s in lst:
            if s.time in mark:
                continue
            if s.protected:
                mark[s.time] = "protected"
                continue
            sid = sel(s)
            if sid in included:
                continue
            if sid not in hashes:
                if len(hashes) >= n:
                    break
                hashes.append(sid)
                mark[s.time] = "keep"
            else:
                mark[s.time] = "remove"
    return [(s.time, "protected" if s.protected else mark.get(s.time, "remove")) for s in lst]


_T0 = _epoch("2018-12-20T00:00:00Z")
snapshot_lists = st.lists(
    st.builds(SnapshotInfo, st.integers(0, 3 * 366 * 86400).map(lambda x: _T0 + x),
              st.sampled_from([True] * 5 + [False]),
              st.sampled_from([False, False, False, True])),
    max_size=40, unique_by=lambda s: s.time)
counts = st.none() | st.integers(0, 8)
keep_options = st.builds(KeepOptions, counts, counts, counts, counts, counts, counts)


@settings(max_examples=400, deadline=None)
@given(snapshot_lists, keep_options)
def test_matches_the_strftime_reference(snaps: list[SnapshotInfo], opts: KeepOptions) -> None:
    got = [(d.snapshot.time, d.mark.value) for d in compute_prune_info(snaps, opts, UTC)]
    assert got == _reference(snaps, opts)


@settings(max_examples=400, deadline=None)
@given(snapshot_lists, keep_options, st.sampled_from(RULES), st.integers(1, 5))
def test_keeping_more_never_removes_more(snaps: list[SnapshotInfo], opts: KeepOptions,
                                         rule: str, extra: int) -> None:
    """Raising one keep count never lowers the number of snapshots kept."""
    field = rule.removeprefix("keep-")
    more = KeepOptions(**{**{r.removeprefix("keep-"): n for r, n in opts.items()},
                          field: (getattr(opts, field) or 0) + extra})
    before = sum(d.keep for d in plan(snaps, opts, UTC))
    after = sum(d.keep for d in plan(snaps, more, UTC))
    if opts.keeps_something():
        assert after >= before
    else:  # from "keep everything" to a real policy
        assert after <= before == len(snaps)


def test_keeping_more_may_keep_a_different_snapshot() -> None:
    """PBS's own T3 vector: adding keep-weekly 1 to daily 1 + monthly 1 keeps one more
    snapshot in total, but 11-29 (kept before) is removed now and 11-22 kept instead."""
    case = next(c for c in VECTORS["cases"] if c["test"] == "test_prune_simple2")
    snaps = [SnapshotInfo(_epoch(i["time"])) for i in case["input"]]

    def kept(opts: KeepOptions) -> list[str]:
        return [_name(d.snapshot.time) for d in plan(snaps, opts, UTC) if d.keep]

    assert kept(KeepOptions(daily=1, monthly=1)) == ["2019-12-04T11:59:15Z",
                                                     "2019-11-29T11:59:15Z"]
    assert len(kept(KeepOptions(daily=1, weekly=1, monthly=1))) == 3
    assert "2019-11-29T11:59:15Z" not in kept(KeepOptions(daily=1, weekly=1, monthly=1))


@settings(max_examples=300, deadline=None)
@given(snapshot_lists, keep_options)
def test_invariants(snaps: list[SnapshotInfo], opts: KeepOptions) -> None:
    decisions = plan(snaps, opts, UTC)
    assert [d.snapshot.time for d in decisions] == sorted((s.time for s in snaps), reverse=True)
    assert all(d.keep for d in decisions if d.snapshot.protected)
    partial = [d for d in decisions if d.mark is Mark.KEEP_PARTIAL]
    assert len(partial) <= 1 and all(d is decisions[0] for d in partial)
    for rule, n in opts.items():
        assert sum(d.rule == rule for d in decisions) <= n
    assert all((d.rule is None) == (not d.keep) for d in decisions)
    for rule, short in shortfall(decisions, opts).items():
        assert 0 <= short <= dict(opts.items())[rule]


def test_doctests() -> None:
    import doctest

    from pbs_agent import host
    from pbs_agent.assurance import prune

    for mod in (prune, host):
        assert doctest.testmod(mod).failed == 0, mod.__name__
