"""``pbs-agent metrics`` end to end: golden exposition, atomic --output, promtool lint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .procs import only

GOLDEN = Path(__file__).parent / "golden" / "scenario.prom"
VOLATILE = ("pbs_agent_collector_duration_seconds{", "pbs_agent_build_info{",
            "pbs_agent_collector_last_success_timestamp_seconds{")


def run_metrics(tree: dict[str, Path], state: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "pbs_agent", "metrics", "--pbs.log-dir", str(tree["log"]),
            "--pbs.lib-dir", str(tree["lib"]), "--pbs.config-dir", str(tree["etc"]),
            "--state-dir", str(state), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def stable(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith(VOLATILE))


def test_golden_exposition(pbs_tree: dict[str, Path], tmp_path: Path) -> None:
    proc = run_metrics(pbs_tree, tmp_path / "state", *only("tasks", "jobs"))
    assert proc.returncode == 0, proc.stderr
    got = stable(proc.stdout)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(got)
    assert got == GOLDEN.read_text()
    # the second run reads nothing new: same counters, and the malformed archive lines
    # (before the saved offset) are not read, so not counted, again
    again = run_metrics(pbs_tree, tmp_path / "state", *only("tasks", "jobs"))
    errors = 'pbs_agent_parse_errors_total{collector="tasks"} '
    assert stable(again.stdout) == got.replace(errors + "2.0", errors + "0.0")


def test_output_file_is_written_atomically(pbs_tree: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "textfile" / "pbs.prom"
    out.parent.mkdir()
    out.write_text("old content\n")
    proc = run_metrics(pbs_tree, tmp_path / "state", "--output", str(out), *only("jobs"))
    assert proc.returncode == 0 and proc.stdout == ""
    assert "pbs_job_never_run" in out.read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["pbs.prom"]  # no temp file left
    assert (out.stat().st_mode & 0o777) == 0o644
    bad = run_metrics(pbs_tree, tmp_path / "state", "--output", str(tmp_path / "no" / "x.prom"),
                      *only("jobs"))
    assert bad.returncode == 2 and "x.prom" in bad.stderr


def test_bad_config_is_a_clean_error(pbs_tree: dict[str, Path], tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text("no.such-key = 1\n")
    proc = run_metrics(pbs_tree, tmp_path / "state", "--config", str(cfg))
    assert proc.returncode == 2
    assert "unknown setting 'no.such-key'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.prometheus
def test_promtool_check_metrics_is_clean(pbs_tree: dict[str, Path], tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    from pbs_agent.demo import build_demo

    build_demo(str(tmp_path / "ds"), vms=2, cts=1, days=2, seed=3, missing=1)
    proc = run_metrics(pbs_tree, tmp_path / "state", "--datastore", f"demo={tmp_path / 'ds'}",
                       *only("tasks", "jobs", "dedup"))
    assert proc.returncode == 0, proc.stderr
    assert "pbs_group_exclusive_bytes{" in proc.stdout and "pbs_backup_chunks_total{" in proc.stdout
    lint = subprocess.run([promtool, "check", "metrics"], input=proc.stdout, capture_output=True,
                          text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout.strip() == "" and lint.stderr.strip() == ""
