"""The retention collector: the configured prune jobs' forecast per group, as metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pbs_agent.collectors.base import CollectContext
from pbs_agent.collectors.retention import RetentionCollector
from pbs_agent.errors import SourceError
from pbs_agent.host import Settings
from tests.assurance.writer import write_snapshot

from .conftest import collect, value

DAY = 86400
START = 1717207200  # 2024-06-01T02:00:00Z, a Saturday


@pytest.fixture
def tree(tmp_path: Path, utc: None) -> dict[str, Path]:
    """vm/100 (60 daily snapshots, the oldest protected), ct/200 (3 days), prod:vm/300 (60)
    and a prune.cfg: root namespace only keep-daily 7 + keep-weekly 4, prod keep-last 5
    (slots in local time: UTC here)."""
    root = tmp_path / "ds"
    (root / ".chunks").mkdir(parents=True)
    for day in range(60):
        write_snapshot(str(root), "", "vm", "100", START + day * DAY, protected=day == 0)
        write_snapshot(str(root), "prod", "vm", "300", START + day * DAY + 60)
    for day in range(3):
        write_snapshot(str(root), "", "ct", "200", START + (57 + day) * DAY + 120)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "datastore.cfg").write_text(f"datastore: store1\n\tpath {root}\n")
    (etc / "prune.cfg").write_text(
        "prune: daily\n\tstore store1\n\tschedule daily\n\tmax-depth 0\n\tkeep-daily 7\n"
        "\tkeep-weekly 4\n"
        "prune: prod\n\tstore store1\n\tschedule daily\n\tns prod\n\tkeep-last 5\n"
        "prune: broken\n\tstore store1\n\tschedule daily\n\tkeep-last lots\n")
    return {"root": root, "etc": etc}


def _labels(ns: str, btype: str, bid: str) -> dict[str, str]:
    return {"datastore": "store1", "namespace": ns, "backup_type": btype, "backup_id": bid}


def test_prune_forecast_per_group(tree: dict[str, Path], tmp_path: Path) -> None:
    smp, ctx = collect(RetentionCollector(), Settings(config_dir=tree["etc"]))
    vm, ct, prod = _labels("", "vm", "100"), _labels("", "ct", "200"), _labels("prod", "vm", "300")
    # vm/100: 7 days + 4 older ISO weeks kept, the protected oldest on top: 60 - 12 removed
    assert value(smp, "pbs_group_prune_remove_snapshots", **vm) == 48
    assert value(smp, "pbs_group_oldest_snapshot_timestamp_seconds", **vm) == START
    assert value(smp, "pbs_group_retention_shortfall", rule="keep-daily", **vm) == 0
    assert value(smp, "pbs_group_retention_shortfall", rule="keep-weekly", **vm) == 0
    # ct/200: three days only: keep-daily 7 is 4 short, nothing older for the weeks
    assert value(smp, "pbs_group_prune_remove_snapshots", **ct) == 0
    assert value(smp, "pbs_group_retention_shortfall", rule="keep-daily", **ct) == 4
    assert value(smp, "pbs_group_retention_shortfall", rule="keep-weekly", **ct) == 4
    assert value(smp, "pbs_group_oldest_snapshot_timestamp_seconds", **ct) == \
        START + 57 * DAY + 120
    # prod: only its own job (the root one stops at depth 0)
    assert value(smp, "pbs_group_prune_remove_snapshots", **prod) == 55
    assert value(smp, "pbs_group_oldest_snapshot_timestamp_seconds", **prod) == \
        START + 55 * DAY + 60
    assert value(smp, "pbs_group_retention_shortfall", rule="keep-last", **prod) == 0
    assert ctx.parse_errors == 1  # the broken job


def test_metrics_agree_with_prune_plan(tree: dict[str, Path]) -> None:
    """The collector and `pbs-agent prune-plan --json` tell the same story."""
    smp, _ = collect(RetentionCollector(), Settings(config_dir=tree["etc"]))
    proc = subprocess.run([sys.executable, "-m", "pbs_agent", "prune-plan", str(tree["root"]),
                           "--pbs.config-dir", str(tree["etc"]), "--json"],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "TZ": "UTC"})
    for g in json.loads(proc.stdout)["groups"]:
        labels = _labels(g["namespace"], g["backup_type"], g["backup_id"])
        assert value(smp, "pbs_group_prune_remove_snapshots", **labels) == len(g["remove"])
        assert value(smp, "pbs_group_oldest_snapshot_timestamp_seconds", **labels) == min(
            k["time"] for k in g["keep"])


def test_no_job_removes_nothing(tree: dict[str, Path]) -> None:
    (tree["etc"] / "prune.cfg").unlink()
    smp, ctx = collect(RetentionCollector(), Settings(config_dir=tree["etc"]))
    assert value(smp, "pbs_group_prune_remove_snapshots", **_labels("", "vm", "100")) == 0
    assert value(smp, "pbs_group_oldest_snapshot_timestamp_seconds",
                 **_labels("", "vm", "100")) == START
    assert not any(k[0] == "pbs_group_retention_shortfall" for k in smp)
    assert ctx.parse_errors == 0


def test_unreadable_datastore_cfg_fails_the_collector(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"datastore\.cfg"):
        list(RetentionCollector().collect(CollectContext(Settings(config_dir=tmp_path))))
