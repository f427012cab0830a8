"""The dedup child's result crosses the process boundary typed: what the child prints decodes
back into the engine's own dataclasses, and a missing, renamed or mistyped field fails."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pbs_agent.collectors.base import CollectContext
from pbs_agent.collectors.dedup import DedupCollector
from pbs_agent.engine import child as engine_child
from pbs_agent.engine import scan_datastore
from pbs_agent.engine.child import ScanResults, scan_in_child
from pbs_agent.engine.model import DatastoreReport
from pbs_agent.errors import FormatError, ScanIssue
from pbs_agent.exporter.runner import Runner
from pbs_agent.host import Settings


@pytest.fixture
def store(small_demo: str) -> str:
    """The small demo plus an index file that is not one: the report has a scan error too."""
    snapshot = sorted(Path(small_demo, "vm").glob("*/*T*Z"))[0]
    (snapshot / "broken.img.fidx").write_bytes(b"not an index file" * 300)
    return small_demo


def _report(store: str, tmp_path: Path) -> dict[str, Any]:
    doc = scan_datastore(store, state_dir=str(tmp_path / "state")).as_dict()
    return json.loads(json.dumps(doc))  # exactly what crosses the pipe


def test_round_trip_gives_the_same_report(store: str, tmp_path: Path) -> None:
    report = scan_datastore(store, state_dir=str(tmp_path / "state"))
    back = DatastoreReport.from_dict(json.loads(json.dumps(report.as_dict())))
    assert back == report
    assert back.groups and back.errors  # the demo has missing/bad chunks: both lists are used


@pytest.mark.parametrize(("where", "old", "new"), [
    ("datastore", "logical_bytes", "logical"),
    ("groups", "exclusive_bytes", "exclusive"),
    ("errors", "reason", "why"),
    ("scan", "seconds", "secs"),
])
def test_a_renamed_field_fails(store: str, tmp_path: Path, where: str, old: str,
                               new: str) -> None:
    doc = _report(store, tmp_path)
    obj = doc[where][0] if isinstance(doc[where], list) else doc[where]
    obj[new] = obj.pop(old)
    with pytest.raises(FormatError) as caught:
        DatastoreReport.from_dict(doc)
    assert f"missing field(s) {old}" in str(caught.value)
    assert f"unknown field(s) {new}" in str(caught.value)


@pytest.mark.parametrize(("key", "bad"), [("snapshots", "3"), ("snapshots", True),
                                          ("dedup_factor", "x"), ("path", None)])
def test_a_mistyped_field_fails(store: str, tmp_path: Path, key: str, bad: Any) -> None:
    doc = _report(store, tmp_path)
    doc["datastore"][key] = bad
    with pytest.raises(FormatError, match=f"field {key}"):
        DatastoreReport.from_dict(doc)


def test_nullable_fields_take_null(store: str, tmp_path: Path) -> None:
    doc = _report(store, tmp_path)
    doc["datastore"]["dedup_factor"] = None
    doc["groups"][0]["last_backup_time"] = None
    rep = DatastoreReport.from_dict(doc)
    assert rep.datastore.dedup_factor is None and rep.groups[0].last_backup_time is None


def test_the_child_returns_engine_types(store: str, tmp_path: Path) -> None:
    stores = {"demo": Path(store), "gone": tmp_path / "missing"}
    results = scan_in_child(stores, tmp_path / "state")
    assert isinstance(results, ScanResults)
    local = scan_datastore(store, state_dir=str(tmp_path / "state"))
    assert results.reports["demo"].datastore == local.datastore
    assert results.reports["demo"].groups == local.groups
    assert isinstance(results.failures["gone"], ScanIssue)
    assert results.failures["gone"].path.endswith("missing")


def test_a_renamed_field_from_the_child_fails_the_collector(
        store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The field renamed on the child's side: the collector fails, it does not drop a metric."""
    real_run = subprocess.run

    def child_with_renamed_field(argv: list[str], **kw: Any) -> subprocess.CompletedProcess:
        proc = real_run(argv, **kw)
        doc = json.loads(proc.stdout)
        renamed = copy.deepcopy(doc)
        for group in renamed["reports"]["demo"]["groups"]:
            group["exclusive"] = group.pop("exclusive_bytes")
        return subprocess.CompletedProcess(argv, 0, json.dumps(renamed), proc.stderr)

    monkeypatch.setattr(engine_child.subprocess, "run", child_with_renamed_field)
    settings = Settings(datastores={"demo": Path(store)}, state_dir=tmp_path / "state")
    with pytest.raises(FormatError, match="exclusive_bytes"):
        list(DedupCollector().collect(CollectContext(settings)))
    runner = Runner([DedupCollector()], settings)
    assert runner.run_once(runner.slots[0]).success is False


def test_the_child_output_shape_is_checked() -> None:
    with pytest.raises(FormatError, match="expected"):
        ScanResults.from_dict({"reports": {}})
    with pytest.raises(FormatError, match="failure of x"):
        ScanResults.from_dict({"reports": {}, "failures": {"x": {"path": "p"}}})
