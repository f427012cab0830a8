"""The monitoring mixin (monitoring/mixin, jsonnet): the committed generated files are what the
mixin builds, `_config` really drives selectors and thresholds, and the output passes promtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "scripts" / "build_monitoring.py"
MONITORING = ROOT / "monitoring"

pytestmark = pytest.mark.skipif(shutil.which("jsonnet") is None,
                                reason="Debian's jsonnet is in scripts/apt-packages-test.txt")


def _build(out: Path, config: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BUILD), "--out", str(out), "--config", config],
                          capture_output=True, text=True, timeout=300)


def _exprs(rules_file: Path) -> list[str]:
    doc = yaml.safe_load(rules_file.read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def test_committed_files_are_what_the_mixin_builds() -> None:
    proc = subprocess.run([sys.executable, str(BUILD), "--check"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_check_names_a_stale_file(tmp_path: Path) -> None:
    assert _build(tmp_path).returncode == 0
    rules = tmp_path / "rules" / "pbs-fleet.rules.yml"
    rules.write_text(rules.read_text().replace("> 36 * 3600", "> 48 * 3600"))
    proc = subprocess.run([sys.executable, str(BUILD), "--check", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and f"stale: {rules}" in proc.stderr


def test_selector_reaches_every_pbs_series(tmp_path: Path) -> None:
    """A `pbsSelector` override lands on every pbs_* selector of rules, alerts and dashboard,
    and the result still passes promtool."""
    assert _build(tmp_path, "pbsSelector: 'env=\"prod\"'").returncode == 0
    rules = tmp_path / "rules" / "pbs-fleet.rules.yml"
    dashboard = json.loads((tmp_path / "grafana" / "pbs-fleet.json").read_text())
    exprs = _exprs(rules) + [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"]]
    for expr in exprs:
        for name, matchers in re.findall(r'(?<!["\w])(pbs_[a-z_]+)(\{[^}]*\})?', expr):
            assert 'env="prod"' in matchers, f"{name} in {expr!r}"
    proc = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_thresholds_come_from_config(tmp_path: Path) -> None:
    assert _build(tmp_path, "backupStaleHours: 48, datastoreFullRatio: 0.95, "
                            "gcMaxAgeDays: 3").returncode == 0
    text = (tmp_path / "rules" / "pbs-fleet.rules.yml").read_text()
    assert "> 48 * 3600" in text and "for 48 h" in text
    assert "> 0.95" in text and "more than 95 % full" in text
    assert "> 3 * 86400" in text and "has not run for 3 days" in text
    dashboard = (tmp_path / "grafana" / "pbs-fleet.json").read_text()
    assert '"value": 259200' in dashboard  # the "Time since last GC" panel turns red at 3 days


@pytest.mark.prometheus
def test_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    """Mutation check through the mixin's own knob: SSD wear threshold raised to 90 % makes the
    promtool unit tests fail."""
    assert _build(tmp_path, "ssdWearoutRatio: 0.9").returncode == 0
    rules = (tmp_path / "rules" / "pbs-fleet.rules.yml").read_text()
    assert "pbs_disk_wearout_ratio > 0.9" in rules
    (tmp_path / "tests").mkdir()
    shutil.copy(MONITORING / "tests" / "hardware.test.yml", tmp_path / "tests")
    proc = subprocess.run(["promtool", "test", "rules", "hardware.test.yml"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path / "tests")
    assert proc.returncode != 0
    assert "PbsSsdWornOut" in proc.stdout + proc.stderr
