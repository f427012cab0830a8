"""The fuzz harness judges honestly: each failure class is detected when it happens."""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lab import fuzz


@pytest.fixture(scope="module")
def template() -> Iterator[fuzz.Template]:
    base = tempfile.mkdtemp(prefix="pbs-fleet-fuzz-test-")  # 0755 below: the backup member
    os.chmod(base, 0o755)                                   # runs the report
    try:
        yield fuzz.make_template(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _clean_run(tpl: fuzz.Template, **kw: object) -> fuzz.ReportRun:
    run = fuzz.ReportRun(0, json.dumps(tpl.baseline), "", 50 << 20, 0.5, False)
    return replace(run, **kw)  # type: ignore[arg-type]


def _fault(tpl: fuzz.Template, expect: str, group: int = 0) -> fuzz.Fault:
    key = sorted(tpl.groups)[group]
    return fuzz.Fault("t", os.path.join(tpl.groups[key], "x"), expect, {key})


def test_clean_run_passes_only_when_nothing_was_expected(template: fuzz.Template) -> None:
    assert not fuzz.evaluate(template, _fault(template, "none"), _clean_run(template)).failed
    assert fuzz.evaluate(template, _fault(template, "error"),
                         _clean_run(template)).unreported


def test_crash_hang_and_memory_are_caught(template: fuzz.Template) -> None:
    fault = _fault(template, "any")
    assert fuzz.evaluate(template, fault, _clean_run(template, returncode=1)).crash
    assert fuzz.evaluate(template, fault, _clean_run(template, stdout="")).crash
    assert fuzz.evaluate(template, fault,
                         _clean_run(template, stderr="Traceback (most recent call)")).crash
    assert fuzz.evaluate(template, fault, _clean_run(template, timed_out=True)).hang
    assert fuzz.evaluate(template, fault, _clean_run(template, maxrss=300 << 20)).memory


def test_moved_untouched_group_is_caught(template: fuzz.Template) -> None:
    rep = json.loads(json.dumps(template.baseline))
    rep["groups"][-1]["logical_bytes"] += 1  # a group the fault did not touch
    rep["groups"][-1]["exclusive_bytes"] += 1
    touched = next(k for k in template.groups
                   if k != tuple(rep["groups"][-1][f]
                                 for f in ("namespace", "backup_type", "backup_id")))
    fault = fuzz.Fault("t", "p", "any", {touched})
    res = fuzz.evaluate(template, fault, _clean_run(template, stdout=json.dumps(rep)))
    assert res.moved == ["/".join(rep["groups"][-1][f]
                                  for f in ("namespace", "backup_type", "backup_id"))]


def test_reported_fault_passes(template: fuzz.Template) -> None:
    fault = _fault(template, "error")
    rep = json.loads(json.dumps(template.baseline))
    rep["errors"].append({"path": fault.path, "reason": "wrong magic"})
    assert not fuzz.evaluate(template, fault,
                             _clean_run(template, stdout=json.dumps(rep))).failed


def test_every_mutation_applies(template: fuzz.Template, tmp_path: Path) -> None:
    """Each kind mutates a copy and names a path that exists in it (or vanishes later)."""
    for n, (kind, mutate) in enumerate(sorted(fuzz.MUTATIONS.items())):
        dest = str(tmp_path / f"c{n}")
        fuzz.copy_template(template, dest)
        fault = mutate(fuzz.Case(template, dest, random.Random(n)))
        assert fault.path.startswith(dest), kind
        assert fault.expect in ("error", "error_or_changed", "missing", "none", "any")
