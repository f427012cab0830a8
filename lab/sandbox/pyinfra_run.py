"""Run pyinfra as a subprocess (exactly like a user) and count the operations that changed.

``pyinfra INVENTORY DEPLOY -y --json`` prints pure JSON on stdout (logs go to stderr); its
``results.totals.success`` counts (operation, host) pairs that succeeded AND changed
something, ``no_change`` those that changed nothing. ``results.operations`` names them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.sandbox.config import HarnessError

REPO = Path(__file__).resolve().parents[2]


@dataclass
class PyinfraResult:
    """Outcome of one pyinfra run; unpacks as ``rc, stdout, stderr, changed_ops``."""

    returncode: int
    stdout: str
    stderr: str
    changed_ops: int | None  # None when pyinfra printed no results (e.g. it failed early)
    changed: list[tuple[str, str]] = field(default_factory=list)  # (operation, host)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (operation, host)
    report: dict[str, Any] | None = None  # pyinfra's whole JSON document

    def __iter__(self) -> Iterator[Any]:
        return iter((self.returncode, self.stdout, self.stderr, self.changed_ops))

    @property
    def output(self) -> str:
        """stdout and stderr together (for grepping, e.g. for leaked secrets)."""
        return self.stdout + self.stderr

    def check(self) -> PyinfraResult:
        """Raise AssertionError with pyinfra's output when the run failed."""
        if self.returncode != 0 or self.changed_ops is None:
            raise AssertionError(f"pyinfra failed (rc={self.returncode}, errors={self.errors}):"
                                 f"\n{self.stderr[-4000:]}")
        return self


def pyinfra_binary() -> str:
    """The project's pyinfra (``.venv/bin/pyinfra``), else the one on PATH."""
    venv = REPO / ".venv/bin/pyinfra"
    found = str(venv) if venv.exists() else shutil.which("pyinfra")
    if not found:
        raise HarnessError("pyinfra not found: run `make bootstrap` (creates .venv)")
    return found


def run_pyinfra(inventory: Path | str, deploy: Path | str, *extra_args: str,
                cwd: Path | str = REPO, env: dict[str, str] | None = None,
                timeout: float = 1800) -> PyinfraResult:
    """``pyinfra -y --json INVENTORY DEPLOY *extra_args``; never raises on pyinfra's exit code.

    Example::

        first = run_pyinfra(inv, "deploys/pbs_host.py").check()
        second = run_pyinfra(inv, "deploys/pbs_host.py").check()
        assert second.changed_ops == 0, second.changed
    """
    argv = [pyinfra_binary(), "-y", "--json", str(inventory), str(deploy), *extra_args]
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)
    result = PyinfraResult(proc.returncode, proc.stdout, proc.stderr, None)
    report = _parse(proc.stdout)
    results = (report or {}).get("results")
    if results:
        result.report = report
        result.changed_ops = int(results["totals"]["success"])
        for op in results["operations"]:
            result.changed += [(op["name"], host) for host in op.get("success", [])]
            result.errors += [(op["name"], host) for host in op.get("error", [])]
    return result


def _parse(stdout: str) -> dict[str, Any] | None:
    start = stdout.find("{")
    if start < 0:
        return None
    try:
        report: dict[str, Any] = json.loads(stdout[start:])
        return report
    except json.JSONDecodeError:
        return None
