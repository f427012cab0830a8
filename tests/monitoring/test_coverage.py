"""Guest coverage rules built with the mixin's knobs: one PBS namespace per PVE cluster (the
hand-off) joined through a pbs_namespace label, and guests excluded by id — checked with
promtool on input series named as prometheus-pve-exporter and pbs-agent write them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.prometheus,
              pytest.mark.skipif(shutil.which("jsonnet") is None,
                                 reason="Debian's jsonnet is in scripts/apt-packages-test.txt")]

PVE = ('pve_guest_info{{id="{id}",instance="{inst}",job="pve",name="{name}",node="{node}",'
       'pbs_namespace="{ns}",tags="{tags}",template="0",type="qemu"}}')
PBS = ('pbs_group_{metric}_timestamp_seconds{{instance="pbs1:9797",job="pbs-agent",'
       'datastore="tank",namespace="{ns}",backup_type="vm",backup_id="{bid}"}}')


def _series() -> list[dict[str, str]]:
    out = []
    for ns, inst in (("cluster-a", "pve-a:9221"), ("cluster-b", "pve-b:9221")):
        out.append({"series": PVE.format(id="qemu/100", inst=inst, name=f"web-{ns[-1]}",
                                         node=f"{ns[-1]}1", ns=ns, tags=""),
                    "values": "1x1800"})
    out.append({"series": PVE.format(id="qemu/105", inst="pve-a:9221", name="lab", node="a1",
                                     ns="cluster-a", tags=""), "values": "1x1800"})
    for metric in ("last_backup", "last_restorable", "last_verified_ok"):
        # cluster-a's vm/100 is backed up every minute, cluster-b's stopped an hour before
        out.append({"series": PBS.format(metric=metric, ns="cluster-a", bid="100"),
                    "values": "0+60x1800"})
        out.append({"series": PBS.format(metric=metric, ns="cluster-b", bid="100"),
                    "values": "-3600x1800"})
    return out


def test_per_cluster_namespaces_and_excluded_ids(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_monitoring.py"), "--out", str(tmp_path),
         "--config", "coverageJoinLabels: ['pbs_namespace'], coverageExcludeIds: ['qemu/105']"],
        capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    labels_b = {"severity": "warning", "id": "qemu/100", "pbs_namespace": "cluster-b",
                "name": "web-b", "node": "b1"}
    test = {
        "rule_files": [str(tmp_path / "rules" / "pbs-fleet.rules.yml")],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": _series(),
            "promql_expr_test": [{
                "expr": "pbs:guest_last_backup_timestamp_seconds", "eval_time": "2h",
                "exp_samples": [
                    {"labels": 'pbs:guest_last_backup_timestamp_seconds{id="qemu/100",'
                               'pbs_namespace="cluster-a"}', "value": 7200},
                    {"labels": 'pbs:guest_last_backup_timestamp_seconds{id="qemu/100",'
                               'pbs_namespace="cluster-b"}', "value": -3600}]}],
            "alert_rule_test": [
                # the same vmid in two clusters: only cluster-b's copy is stale
                {"eval_time": "26h", "alertname": "GuestBackupStale",
                 "exp_alerts": [{"exp_labels": labels_b, "exp_annotations": {
                     "summary": "Newest backup of guest qemu/100 (web-b) is older than 26 h",
                     "description": 'Guest qemu/100 "web-b" on node b1: the newest snapshot '
                                    "on PBS is 1d 3h 0m 0s old (RPO 26 h)."}}]},
                # qemu/105 has no backup but is excluded by id
                {"eval_time": "27h", "alertname": "GuestNotBackedUp", "exp_alerts": []},
                {"eval_time": "27h", "alertname": "GuestRestorePointMissing", "exp_alerts": []},
            ],
        }],
    }
    path = tmp_path / "coverage.test.yml"
    path.write_text(yaml.safe_dump(test))
    proc = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # without the exclusion qemu/105 alerts: the list is what keeps it quiet
    build = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_monitoring.py"), "--out", str(tmp_path),
         "--config", "coverageJoinLabels: ['pbs_namespace']"],
        capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    proc = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0 and "qemu/105" in proc.stdout + proc.stderr
