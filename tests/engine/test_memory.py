"""Memory bound (issue 12): peak RSS <= 256 MiB + 24 B per referenced chunk whatever the
input, under a real limit (``prlimit --data``); a limit that is hit is a typed error."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.datastore_gen import build_long_retention

from .conftest import run_report

MIB = 1 << 20
BASE, PER_CHUNK = 256 * MIB, 24


def _bound(referenced: int) -> int:
    return BASE + PER_CHUNK * referenced




@pytest.mark.parametrize("state", [None, "st"])
def test_long_retention_group_within_the_bound(scratch_dir: Path, state: str | None) -> None:
    """40 daily snapshots of a 1M-chunk disk: the engine kept every snapshot's digest set
    of a group in memory at once (8 MB each) to persist them as one record."""
    root = scratch_dir / "ds"
    entries = 1 << 20
    build_long_retention(str(root), entries, 40)
    limit = _bound(entries)
    run = run_report(str(root), state_dir=state, timeout=300,
                     prefix=["prlimit", f"--data={limit}", "--"])
    assert run.returncode == 0, run.stderr[-2000:]
    ds = run.report["datastore"]
    assert ds["chunks_referenced"] == entries and ds["missing_chunks"] == entries
    assert run.maxrss <= limit, (run.maxrss, limit)
    if state:  # and once more from the state
        again = run_report(str(root), state_dir=state, timeout=300,
                           prefix=["prlimit", f"--data={limit}", "--"])
        assert again.returncode == 0 and again.report["datastore"] == ds
        assert again.maxrss <= limit


def test_hitting_the_limit_is_a_typed_error(scratch_dir: Path) -> None:
    root = scratch_dir / "ds"
    build_long_retention(str(root), 1 << 20, 3)
    run = run_report(str(root), timeout=120, prefix=["prlimit", f"--data={90 * MIB}", "--"])
    assert run.returncode == 2, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "pbs-agent report: error: out of memory (data limit 90 MiB); the agent needs about "
        "256 MiB plus 24 bytes per chunk: raise the limit (systemd MemoryMax=, prlimit)")
