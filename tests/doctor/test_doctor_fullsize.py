"""The doctor on datastores of real shape: 65,536 chunk directories (issue 12)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.datastore_gen import SUITE, make_chunk_dirs
from pbs_agent.doctor import Verdict, chunks, permissions

from .hosts import Host

REPO = Path(__file__).parents[2]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


def _doctor(host: Host, *check: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"}
    checks = [a for c in check for a in ("--check", c)]
    return subprocess.run([sys.executable, "-m", "pbs_agent", "doctor", *host.cli_args(),
                           *checks], capture_output=True, text=True, env=env, timeout=300)


@needs_root
def test_permissions_every_chunk_dir_wrong(host: Host, scratch_dir: Path) -> None:
    """The first row of the troubleshooting matrix at full size: every chunk dir owned by
    root. The doctor did not finish in 15 minutes (a quadratic fix line); now it takes
    seconds and prints one fix command that works when copied from the table."""
    root = scratch_dir / "pbs-datastore-with-a-long-hyphenated-name" / "store-one"
    root.mkdir(parents=True)
    make_chunk_dirs(str(root), mode=0o755)
    (root / ".lock").write_bytes(b"")
    host.datastores["store1"] = root
    t = time.monotonic()
    proc = _doctor(host, "datastore-permissions")
    took = time.monotonic() - t
    assert proc.returncode == 2, proc.stderr
    assert took < 30, took  # the ratio to `find` is measured in benchmarks/
    lines = proc.stdout.splitlines()
    assert "(+65538 more)" in proc.stdout  # root, .lock, .chunks and 65,536 dirs
    fix = [line.strip() for line in lines if line.strip().startswith("fix: ")]
    assert len(fix) == 1
    after = lines[[line.strip() for line in lines].index(fix[0]) + 1:]
    assert after == []  # nothing of the command spills onto a next line
    subprocess.run(["bash", "-c", fix[0].removeprefix("fix: ")], check=True, timeout=120)
    again = _doctor(host, "datastore-permissions")
    assert again.returncode == 0, again.stdout
    assert "65536 subdirs 0750" in again.stdout


def test_permissions_check_is_linear(host: Host, scratch_dir: Path) -> None:
    """Without root (nothing can be chowned) the check still sees 65,536 wrong dirs fast:
    every entry is compared once, never against a list of all the others."""
    root = scratch_dir / "ds"
    root.mkdir()
    make_chunk_dirs(str(root), mode=0o700)
    host.datastores["store1"] = root
    t = time.monotonic()
    c = permissions.check(host.env())
    assert time.monotonic() - t < 15
    assert c.verdict == Verdict.FAIL and "(+" in c.evidence
    assert "\n" not in c.fix and c.fix.count("find ") == 1


def test_missing_chunks_on_a_full_size_datastore(host: Host, full_size_datastore: Path) -> None:
    host.datastores["big"] = full_size_datastore
    c = chunks.check(host.env())
    assert c.verdict == Verdict.OK, c.evidence
    referenced = SUITE.chunk_files - SUITE.garbage
    assert c.evidence == f"big: all {referenced} referenced chunks present in " \
                         f"{SUITE.groups * SUITE.snapshots_per_group} snapshots"
