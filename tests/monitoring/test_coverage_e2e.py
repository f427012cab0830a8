"""The coverage rules in a real Prometheus: `pbs-agent serve` on a demo datastore (with missing
and bad chunks), a stand-in serving prometheus-pve-exporter's guest series, Debian's
prometheus evaluating monitoring/rules (scripts/coverage_demo.py, the README's answer)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pbs_agent.demo import build_demo, recent_start

pytestmark = pytest.mark.prometheus
ROOT = Path(__file__).resolve().parents[2]


def test_coverage_table_from_a_real_prometheus(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    build_demo(str(ds), days=10, garbage=6, missing=1, bad=1, start=recent_start(10))
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "coverage_demo.py"), str(ds)],
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: re.split(r"\s{2,}", line) for line in proc.stdout.splitlines()[1:-1]}
    assert sorted(rows) == ["lxc/100", "lxc/101", "qemu/100", "qemu/101", "qemu/102",
                            "qemu/103"]  # the template and the no-backup tag are left out
    assert rows["qemu/103"][2:] == ["none", "none", "none", "GuestNotBackedUp"]
    # the demo's planted missing and bad chunks are shared VM chunks: every VM is backed up
    # (hours ago) but its newest restorable snapshot is older than the RPO (qemu/101's newest
    # also failed verification); the containers are fine
    for vm in ("qemu/100", "qemu/101", "qemu/102"):
        _, _, backup, restorable, _, alerts = rows[vm]
        assert "d" not in backup and "d" in restorable, rows[vm]
        assert alerts == "GuestRestorePointMissing"
    assert rows["lxc/100"][-1] == rows["lxc/101"][-1] == "-"
    assert "(not expected to be backed up: qemu/9000, qemu/104)" in proc.stdout
