"""`pbs-agent prune-plan` on snapshot trees from an independent writer, run as a process."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .writer import write_snapshot

DAY = 86400
START = 1717207200  # 2024-06-01T02:00:00Z


def _plan(*args: str, tz: str = "UTC", check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TZ": tz}
    return subprocess.run([sys.executable, "-m", "pbs_agent", "prune-plan", *args],
                          capture_output=True, text=True, env=env, check=check, timeout=120)


@pytest.fixture(scope="module")
def sixty_days(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three groups, one snapshot a day for 60 days; vm/100's two oldest are protected."""
    root = str(tmp_path_factory.mktemp("plan") / "ds")
    os.makedirs(os.path.join(root, ".chunks"))
    for ns, btype, bid in (("", "vm", "100"), ("", "ct", "200"), ("prod", "vm", "300")):
        for day in range(60):
            write_snapshot(root, ns, btype, bid, START + day * DAY + 60 * int(bid[0]),
                           protected=(bid == "100" and day < 2))
    return root


def _expected_daily_weekly(times: list[int], daily: int, weekly: int, zone: str) -> list[int]:
    """The issue's statement: the `daily` newest days, then the newest snapshot of each of the
    `weekly` older ISO weeks not already covered (dates in *zone*)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    newest = sorted(times, reverse=True)
    kept = newest[:daily]  # one snapshot per day
    covered = {dt.datetime.fromtimestamp(t, tz).isocalendar()[:2] for t in kept}
    for t in newest[daily:]:
        week = dt.datetime.fromtimestamp(t, tz).isocalendar()[:2]
        if week not in covered and len(kept) < daily + weekly:
            covered.add(week)
            kept.append(t)
    return kept


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_daily_7_weekly_4_keeps_11_per_group(sixty_days: str, zone: str) -> None:
    doc = json.loads(_plan(sixty_days, "--keep-daily", "7", "--keep-weekly", "4", "--json",
                           tz=zone).stdout)
    assert doc["errors"] == []
    assert [(g["namespace"], g["backup_type"], g["backup_id"]) for g in doc["groups"]] == [
        ("", "ct", "200"), ("", "vm", "100"), ("prod", "vm", "300")]
    for g in doc["groups"]:
        assert set(g) >= {"namespace", "backup_type", "backup_id", "keep", "remove"}
        times = [k["time"] for k in g["keep"]] + [r["time"] for r in g["remove"]]
        assert len(times) == 60
        plain = [k for k in g["keep"] if k["rule"] != "protected"]
        assert len(plain) == 11
        finished = sorted(t for t in times if t not in
                          {k["time"] for k in g["keep"] if k["rule"] == "protected"})
        assert [k["time"] for k in plain] == _expected_daily_weekly(finished, 7, 4, zone)
        assert [k["rule"] for k in plain] == ["keep-daily"] * 7 + ["keep-weekly"] * 4
        assert all(set(r) == {"time"} for r in g["remove"])
    vm100 = doc["groups"][1]
    protected = [k["time"] for k in vm100["keep"] if k["rule"] == "protected"]
    assert sorted(protected) == [START + 60, START + DAY + 60]  # kept on top: 13 in all
    assert len(vm100["keep"]) == 13 and len(vm100["remove"]) == 47


def test_filters_and_human_output(sixty_days: str) -> None:
    doc = json.loads(_plan(sixty_days, "--keep-last", "3", "--ns", "prod", "--json").stdout)
    assert [(g["backup_id"], len(g["keep"])) for g in doc["groups"]] == [("300", 3)]
    doc = json.loads(_plan(sixty_days, "--keep-last", "2", "--group", "ct/200", "--json").stdout)
    assert [g["backup_id"] for g in doc["groups"]] == ["200"]
    out = _plan(sixty_days, "--keep-daily", "7", "--keep-weekly", "4").stdout
    assert "vm/100: keep 13, remove 47 (options)" in out
    assert "prod:vm/300: keep 11, remove 49 (options)" in out
    assert out.count("keep-weekly") == 3 * 4 + 1  # rows plus the header's options


def test_bad_arguments_are_one_line_errors(sixty_days: str, tmp_path: Path) -> None:
    proc = _plan(sixty_days, "--keep-last", "1", "--group", "vm", check=False)
    assert proc.returncode == 2 and "--group 'vm': expected TYPE/ID" in proc.stderr
    proc = _plan(sixty_days, "--keep-last", "-1", check=False)
    assert proc.returncode == 2 and "--keep-last -1: must be >= 0" in proc.stderr
    proc = _plan(str(tmp_path / "nope"), "--keep-last", "1", check=False)
    assert proc.returncode == 2 and "not a datastore directory" in proc.stderr
    proc = _plan(sixty_days, "--pbs.config-dir", str(tmp_path), check=False)
    assert proc.returncode == 2 and "pass --store NAME or --keep-* options" in proc.stderr
    assert "Traceback" not in proc.stderr


def _config(tmp_path: Path, root: str, prune_cfg: str) -> Path:
    cfg = tmp_path / "etc"
    cfg.mkdir()
    (cfg / "datastore.cfg").write_text(f"datastore: store1\n\tpath {root}\n\tgc-schedule daily\n")
    (cfg / "prune.cfg").write_text(prune_cfg)
    return cfg


def test_configured_jobs_and_which_namespace_they_cover(sixty_days: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path, sixty_days, (
        "prune: root-only\n\tstore store1\n\tschedule daily\n\tmax-depth 0\n"
        "\tkeep-daily 7\n\tkeep-weekly 4\n"
        "prune: prod\n\tstore store1\n\tschedule daily\n\tns prod\n\tkeep-last 5\n"
        "prune: off\n\tstore store1\n\tschedule daily\n\tdisable true\n\tkeep-last 1\n"
        "prune: other-store\n\tstore store2\n\tschedule daily\n\tkeep-last 1\n"
        "prune: broken\n\tstore store1\n\tschedule daily\n\tkeep-daily many\n"))
    proc = _plan(sixty_days, "--pbs.config-dir", str(cfg), "--json")
    doc = json.loads(proc.stdout)
    got = {(g["namespace"], g["backup_id"]): g for g in doc["groups"]}
    assert got[("", "200")]["jobs"] == ["root-only"] and len(got[("", "200")]["keep"]) == 11
    assert got[("prod", "300")]["jobs"] == ["prod"]
    assert [k["rule"] for k in got[("prod", "300")]["keep"]] == ["keep-last"] * 5
    assert [e["reason"] for e in doc["errors"]] == [
        f"{cfg}/prune.cfg: prune job 'broken': keep-daily 'many' is not a count >= 0"]
    out = _plan(sixty_days, "--pbs.config-dir", str(cfg)).stdout
    assert "job root-only: --keep-daily 7 --keep-weekly 4; root namespace only" in out
    assert "job prod: --keep-last 5; namespace 'prod', full depth" in out
    assert "job off: --keep-last 1; root namespace, full depth (disabled: skipped)" in out
    assert "namespace root: root-only" in out and "namespace 'prod': prod" in out
    assert "other-store" not in out


def test_no_job_for_a_namespace_keeps_it(sixty_days: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path, sixty_days,
                  "prune: p\n\tstore store1\n\tschedule daily\n\tns prod\n\tkeep-last 1\n")
    doc = json.loads(_plan(sixty_days, "--pbs.config-dir", str(cfg), "--json").stdout)
    root = [g for g in doc["groups"] if g["namespace"] == ""]
    assert all(g["jobs"] == [] and g["remove"] == [] for g in root)
    assert {k["rule"] for g in root for k in g["keep"]} == {"keep-all", "protected"}


def test_two_jobs_on_one_group_run_one_after_the_other(sixty_days: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path, sixty_days, (
        "prune: a\n\tstore store1\n\tschedule daily\n\tkeep-daily 10\n"
        "prune: b\n\tstore store1\n\tschedule daily\n\tns prod\n\tkeep-last 3\n"))
    doc = json.loads(_plan(sixty_days, "--pbs.config-dir", str(cfg), "--ns", "prod",
                           "--json").stdout)
    (g,) = doc["groups"]
    assert g["jobs"] == ["a", "b"] and len(g["keep"]) == 3 and len(g["remove"]) == 57


def test_prune_plan_does_not_import_the_exporter(sixty_days: str) -> None:
    code = ("import sys; from pbs_agent.cli import main; main(['prune-plan', sys.argv[1], "
            "'--keep-last', '1', '--json']); print(sorted(m for m in sys.modules if "
            "m.startswith(('prometheus_client', 'pbs_agent.exporter', 'pbs_agent.collectors',"
            " 'pbs_agent.engine'))), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, sixty_days], capture_output=True,
                          text=True, check=True, timeout=60)
    assert proc.stderr.strip() == "[]"
