"""The Grafana dashboard imports cleanly: schema essentials, layout, and every PromQL
expression parses (promtool) and uses only metrics the agent, the rules or named peers export."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
DASHBOARD = MONITORING / "grafana" / "pbs-fleet.json"
RULES = MONITORING / "rules" / "pbs-fleet.rules.yml"

#: Metric names of the agent (issue 3 §2 and the collectors); the runner's, api's and the
#: hardware collectors' names are what those modules export.
AGENT_METRICS = {
    *(f"pbs_datastore_{n}" for n in ("logical_bytes", "physical_bytes", "dedup_factor",
                                     "garbage_bytes", "missing_chunks", "bad_chunks",
                                     "garbage_reclaimable_bytes", "garbage_pending_bytes",
                                     "garbage_pending_until_timestamp_seconds",
                                     "filesystem_info")),
    *(f"pbs_group_{n}" for n in ("snapshots", "last_backup_timestamp_seconds", "referenced_bytes",
                                 "exclusive_bytes", "last_new_bytes", "last_logical_bytes",
                                 "last_verify_state", "info", "last_restorable_timestamp_seconds",
                                 "last_verified_ok_timestamp_seconds", "prune_remove_snapshots",
                                 "oldest_snapshot_timestamp_seconds", "retention_shortfall")),
    *(f"pbs_backup_{n}" for n in ("logical_bytes_total", "uploaded_bytes_total", "chunks_total",
                                  "duplicate_chunks_total", "last_duration_seconds",
                                  "last_throughput_bytes_per_second",
                                  "last_end_timestamp_seconds", "last_success")),
    "pbs_tasks_total",
    *(f"pbs_gc_last_{n}" for n in ("removed_bytes", "pending_bytes", "dedup_factor",
                                   "duration_seconds", "end_timestamp_seconds", "success",
                                   "removed_chunks", "pending_chunks", "original_data_bytes",
                                   "disk_bytes", "disk_chunks", "average_chunk_bytes",
                                   "removed_bad_chunks", "still_bad_chunks",
                                   "chunk_cache_hits", "chunk_cache_misses")),
    "pbs_verify_snapshots_total",
    "pbs_job_last_run_timestamp_seconds", "pbs_job_last_success", "pbs_job_never_run",
    "pbs_agent_collector_success", "pbs_agent_collector_duration_seconds",
    "pbs_agent_collector_last_success_timestamp_seconds", "pbs_agent_parse_errors_total",
    "pbs_agent_build_info",
    "pbs_api_up", "pbs_api_datastore_size_bytes", "pbs_api_datastore_used_bytes",
    "pbs_api_datastore_available_bytes", "pbs_api_datastore_estimated_full_timestamp_seconds",
    "pbs_disk_info", "pbs_disk_temperature_celsius", "pbs_disk_wearout_ratio", "pbs_disk_standby",
    "pbs_disk_smart_healthy", "pbs_disk_nvme_critical_warning", "pbs_disk_power_on_seconds",
    "pbs_disk_media_errors_total", "pbs_zpool_vdev_state", "pbs_thermal_inlet_sensor_info",
    "pbs_thermal_inlet_celsius", "pbs_thermal_inlet_band_celsius",
    "pbs_zpool_state", "pbs_zpool_vdev_errors", "pbs_zpool_scan_in_progress",
    "pbs_zpool_scan_progress_ratio", "pbs_zpool_last_scrub_end_timestamp_seconds",
    "pbs_zpool_data_errors",
}
#: Peers joined on purpose: node_exporter, prometheus-pve-exporter (its not-backed-up list;
#: its guests come in through the recording rule pve:guest_backup_expected), and Prometheus's own
#: series.
PEER_METRICS = {"up", "node_disk_io_time_seconds_total", "pve_not_backed_up_info"}
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "topk", "bottomk", "by", "without", "on", "ignoring",
    "group_left", "group_right", "and", "or", "unless", "bool", "offset", "rate", "increase",
    "irate", "changes", "time", "sort", "sort_desc", "label_replace", "max_over_time",
    "min_over_time", "avg_over_time", "label_values", "inf", "nan", "vector",
}
VARIABLES = {"$instance": ".+", "$datastore": ".+", "$__rate_interval": "5m",
             "$__interval": "1m", "$__range": "1d"}


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _targets(dash: dict) -> list[tuple[str, dict]]:
    return [(p["title"], t) for p in dash["panels"] for t in p.get("targets", [])]


def _expressions(dash: dict) -> list[str]:
    exprs = [t["expr"] for _, t in _targets(dash)]
    exprs += [a["expr"] for a in dash["annotations"]["list"] if "expr" in a]
    return exprs


def _substitute(expr: str) -> str:
    for var, value in VARIABLES.items():
        expr = expr.replace(var, value)
    return expr


def _metric_names(expr: str) -> set[str]:
    body = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # drop string literals
    body = re.sub(r"\{[^}]*\}", "", body)  # drop label matchers
    body = re.sub(r"\[[^\]]*\]", "", body)  # drop ranges
    body = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", body)
    return {w for w in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", body)
            if w not in PROMQL_WORDS and not re.fullmatch(r"\d.*", w)}


def _recorded() -> set[str]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["record"] for g in doc["groups"] for r in g["rules"] if "record" in r}


def test_schema_essentials() -> None:
    dash = _dashboard()
    assert dash["uid"] == "pbs-fleet" and dash["title"] and dash["id"] is None
    assert isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 36
    (ds_input,) = dash["__inputs"]
    assert ds_input["name"] == "DS_PROMETHEUS" and ds_input["pluginId"] == "prometheus"
    names = [v["name"] for v in dash["templating"]["list"]]
    assert "datastore" in names and "instance" in names


def test_every_datasource_is_the_import_input() -> None:
    text = DASHBOARD.read_text()
    uids = set(re.findall(r'"uid":\s*"([^"]*)"', text)) - {"pbs-fleet", "-- Grafana --"}
    assert uids == {"${DS_PROMETHEUS}"}


def test_panels_have_unique_ids_and_a_sane_grid() -> None:
    panels = _dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in "hwxy"), p["title"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & area, f"panel {p['title']!r} overlaps another"
        cells |= area


def test_panels_cover_the_issue_sections() -> None:
    rows = [p["title"] for p in _dashboard()["panels"] if p["type"] == "row"]
    assert rows == ["Datastore overview", "Groups: dedup attribution", "Backup throughput",
                    "Job health", "Heat and wear", "Coverage"]


def test_targets_have_expr_and_unique_refids() -> None:
    for panel in _dashboard()["panels"]:
        refs = [t["refId"] for t in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), panel["title"]
        assert all(t["expr"].strip() for t in panel.get("targets", [])), panel["title"]
        if panel["type"] != "row":
            assert refs, f"panel {panel['title']!r} has no query"


def test_datastore_panels_honour_the_variable() -> None:
    for title, target in _targets(_dashboard()):
        if "datastore" in target.get("legendFormat", "") and "pbs_" in target["expr"]:
            assert "$datastore" in target["expr"], title


def test_metric_names_exist() -> None:
    known = AGENT_METRICS | PEER_METRICS | _recorded()
    used = set().union(*(_metric_names(_substitute(e)) for e in _expressions(_dashboard())))
    assert used - known == set()
    assert {"pbs_disk_temperature_celsius", "pbs_group_exclusive_bytes",
            "pbs_backup_last_throughput_bytes_per_second", "pbs_job_last_success"} <= used


def test_metric_name_extraction() -> None:
    expr = ('rate(node_x_total{a="b"}[5m]) * on (instance, device) group_left (datastore) '
            'topk by (instance) (1, label_replace(pbs_disk_info, "device", "$1", "k", "(.+)"))')
    assert _metric_names(expr) == {"node_x_total", "pbs_disk_info"}


@pytest.mark.prometheus
def test_every_expression_parses(tmp_path: Path) -> None:
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": _substitute(expr)}
        for i, expr in enumerate(_expressions(_dashboard()))]}]}
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    proc = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.prometheus
def test_a_broken_expression_would_be_caught(tmp_path: Path) -> None:
    path = tmp_path / "broken.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": [
        {"record": "dashboard:broken", "expr": "sum by (datastore (pbs_disk_info)"}]}]}))
    proc = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0
