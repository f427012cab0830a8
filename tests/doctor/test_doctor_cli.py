"""`pbs-agent doctor`: flags shared with serve, JSON shape, table, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pbs_agent.cli import main
from pbs_agent.commands.doctor import render_table
from pbs_agent.doctor import CHECKS, Check, Verdict

from .hosts import Host

ISSUE_IDS = {"datastore-permissions", "missing-chunks", "port-8007", "zfs-pool", "zfs-module",
             "ecc", "aes-ni", "pve-latency", "gc-health"}
REPO = Path(__file__).resolve().parents[2]


def test_all_issue_ids_are_checks() -> None:
    assert set(CHECKS) >= ISSUE_IDS and "memory-arc" in CHECKS


def test_json_shape_and_exit_code_0(host: Host, capsys: pytest.CaptureFixture[str]) -> None:
    host.write("proc/cpuinfo", "model name\t: X\nflags\t: aes\n")
    rc = main(["doctor", "--json", *host.cli_args(), "--check", "aes-ni",
               "--check", "pve-latency"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert [c["id"] for c in doc["checks"]] == ["aes-ni", "pve-latency"]
    assert set(doc["checks"][0]) == {"id", "verdict", "evidence", "fix"}
    assert doc["checks"][0]["verdict"] == "ok"


def test_exit_code_1_on_warning(host: Host, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["doctor", "--json", *host.cli_args(), "--check", "ecc"])
    assert rc == 1
    assert json.loads(capsys.readouterr().out)["checks"][0]["verdict"] == "warn"


def test_exit_code_2_on_failure(host: Host, capsys: pytest.CaptureFixture[str]) -> None:
    host.tool(["zpool", "status", "-P", "-p"], "  pool: tank\n state: SUSPENDED\nconfig:\n")
    rc = main(["doctor", "--json", *host.cli_args(), "--check", "zfs-pool", "--check", "ecc"])
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert rc == 2 and [c["verdict"] for c in checks] == ["fail", "warn"]


def test_full_run_on_fixture_host(host: Host, capsys: pytest.CaptureFixture[str]) -> None:
    ds = host.root / "ds"
    ds.mkdir()
    host.datastores["store1"] = ds
    rc = main(["doctor", "--json", *host.cli_args(), "--pve-host", "127.0.0.1:1"])
    checks = {c["id"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert set(checks) == set(CHECKS) and rc == 2
    assert checks["pve-latency"]["verdict"] == "fail"  # nothing listens on port 1
    assert "store1" in checks["datastore-permissions"]["evidence"]


def test_datastore_flag_is_validated(host: Host, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--datastore", "nopath", "--check", "ecc"]) == 64  # usage, not "fail"
    assert "NAME=PATH" in capsys.readouterr().err


def test_unknown_check_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """0/1/2 mean ok/warnings/failures; a wrong command line is EX_USAGE (64), not 2."""
    with pytest.raises(SystemExit) as exc:
        main(["doctor", "--check", "nosuch"])
    assert exc.value.code == 64
    err = capsys.readouterr().err
    assert "invalid choice: 'nosuch'" in err and "missing-chunks" in err


def test_table_plain_when_piped(host: Host) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "pbs_agent", "doctor", *host.cli_args(),
                           "--check", "ecc", "--check", "aes-ni"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["VERDICT", "CHECK", "EVIDENCE", "/", "FIX"]
    assert "\x1b[" not in proc.stdout
    assert lines[1].startswith("warn     ecc     ")  # columns aligned to the longest id
    assert any(line.strip().startswith("fix: use ECC memory") for line in lines)


def test_table_colors_and_wraps() -> None:
    checks = [Check("a", Verdict.OK, "fine"),
              Check("long-id", Verdict.FAIL, "word " * 40, "do this " * 20)]
    text = render_table(checks, color=True, width=80)
    assert "\x1b[31mfail   \x1b[0m  long-id" in text and "\x1b[32mok" in text
    plain = render_table(checks, False, 80).splitlines()
    fix = [line for line in plain if line.lstrip().startswith("fix: ")]
    assert [line.strip() for line in fix] == ["fix: " + ("do this " * 20).strip()]
    assert all(len(line) <= 80 for line in plain if line not in fix)


def test_table_never_breaks_a_path() -> None:
    """Evidence wraps between words only: a long hyphenated path stays on one line."""
    path = "/mnt/datastore/pbs-store-with-a-very-long-hyphenated-name/.chunks/" + "a" * 60
    text = render_table([Check("datastore-permissions", Verdict.FAIL, f"store1: {path}: x")],
                        False, 80)
    assert any(path in line for line in text.splitlines())
