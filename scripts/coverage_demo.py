#!/usr/bin/env python3
"""Is every VM safe? The coverage rules evaluated by a real Prometheus on a datastore.

Starts ``pbs-agent serve`` (dedup and retention collectors) on DATASTORE, a STAND-IN for
prometheus-pve-exporter serving a fixed list of PVE guests (lab/pve_exporter_standin.py: the
exporter's metric names and id labels, not the exporter), and Debian's ``prometheus`` with
monitoring/rules/pbs-fleet.rules.yml; then prints per guest the ages Prometheus computes and
which coverage alerts' conditions hold (they fire once their ``for:`` has passed).

    scripts/coverage_demo.py .cache/demo-datastore [--pbs.config-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab.pve_exporter_standin import Guest, StandIn  # noqa: E402

RULES = ROOT / "monitoring" / "rules" / "pbs-fleet.rules.yml"
ALERTS = ("GuestNotBackedUp", "GuestBackupStale", "GuestRestorePointMissing",
          "GuestBackupNotVerified")
#: The demo's PVE side: its five groups' guests, one not in any backup job and without a
#: backup, a template and one tagged no-backup.
GUESTS = [Guest(100, "web"), Guest(101, "db", node="pve2"), Guest(102, "mail"),
          Guest(100, "dns", kind="lxc"), Guest(101, "proxy", node="pve2", kind="lxc"),
          Guest(103, "new-app", in_backup_job=False), Guest(9000, "debian-tpl", template=True),
          Guest(104, "scratch", tags="lab;no-backup")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return list(json.load(resp)["data"]["result"])


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    if seconds < 0:
        return "0m"
    d, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    return f"{d}d {h}h" if d else f"{h}h {rest // 60}m"


def _alert_exprs() -> dict[str, str]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"]
            if r.get("alert") in ALERTS}


def run(datastore: str, config_dir: str | None, tmp: Path) -> str:
    agent_port, prom_port = _free_port(), _free_port()
    standin = StandIn(GUESTS)
    argv = [sys.executable, "-m", "pbs_agent", "serve", "--web.listen-address",
            f"127.0.0.1:{agent_port}", "--state-dir", str(tmp / "state"),
            *(["--pbs.config-dir", config_dir] if config_dir else
              ["--datastore", f"demo={datastore}", "--pbs.config-dir", str(tmp)]),
            *[f"--no-collector.{c}" for c in ("tasks", "jobs", "api", "hardware", "zfs",
                                              "thermal", "bench")]]
    agent = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(RULES)],
              "scrape_configs": [
                  {"job_name": "pbs-agent",
                   "static_configs": [{"targets": [f"127.0.0.1:{agent_port}"]}]},
                  {"job_name": "pve", "metrics_path": "/pve",
                   "static_configs": [{"targets": [f"127.0.0.1:{standin.port}"]}]}]}
    (tmp / "prometheus.yml").write_text(json.dumps(config))
    prom = subprocess.Popen(["prometheus", f"--config.file={tmp / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{prom_port}"
    try:
        deadline = time.monotonic() + 180
        while True:  # the dedup scan's first result, then one rule evaluation
            try:
                if _query(base, "pbs:guest_last_restorable_timestamp_seconds"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("no coverage series in Prometheus after 180 s")
            time.sleep(1)
        time.sleep(2)
        return _table(base)
    finally:
        prom.terminate()
        agent.terminate()
        prom.wait(15)
        agent.wait(15)
        standin.stop()


def _table(base: str) -> str:
    expected = {r["metric"]["id"]: r["metric"]["name"]
                for r in _query(base, "pve:guest_backup_expected")}
    ages: dict[str, dict[str, float]] = {g: {} for g in expected}
    for col, rec in (("backup", "backup"), ("restorable", "restorable"),
                     ("verified", "verified_ok")):
        for r in _query(base, f"time() - pbs:guest_last_{rec}_timestamp_seconds > 0"):
            if r["metric"]["id"] in ages:
                ages[r["metric"]["id"]][col] = float(r["value"][1])
        for r in _query(base, f"pbs:guest_last_{rec}_timestamp_seconds == 0"):
            ages.get(r["metric"]["id"], {}).pop(col, None)
    holding: dict[str, list[str]] = {g: [] for g in expected}
    for alert, expr in _alert_exprs().items():
        for r in _query(base, expr):
            holding.setdefault(r["metric"]["id"], []).append(alert)
    rows = [("GUEST", "NAME", "NEWEST BACKUP", "RESTORABLE", "VERIFIED OK", "ALERT CONDITIONS")]
    for gid in sorted(expected):
        a = ages[gid]
        rows.append((gid, expected[gid], _age(a.get("backup")), _age(a.get("restorable")),
                     _age(a.get("verified")), ", ".join(sorted(holding[gid])) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    excluded = [g.id for g in GUESTS if g.id not in expected]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows) + f"\n(not expected to be backed up: {', '.join(excluded)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datastore")
    parser.add_argument("--pbs.config-dir", dest="config_dir",
                        help="PBS config dir whose datastore.cfg names DATASTORE (prune jobs)")
    args = parser.parse_args()
    if shutil.which("prometheus") is None:
        raise SystemExit("needs Debian's prometheus (apt install prometheus)")
    with tempfile.TemporaryDirectory(prefix="coverage-demo-") as tmp:
        print(run(args.datastore, args.config_dir, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
