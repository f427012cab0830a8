"""The dedup and hardware collectors on a datastore of real shape (65,536 chunk dirs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from lab.datastore_gen import SUITE

REPO = Path(__file__).parents[2]
OTHERS = ["tasks", "jobs", "api", "zfs", "thermal", "bench", "retention"]


def _metrics(store: Path, state: Path, *collectors: str) -> dict[tuple[str, str], float]:
    off = [f"--no-collector.{c}" for c in [*OTHERS, "dedup", "hardware"]
           if c not in collectors]
    proc = subprocess.run(
        [sys.executable, "-m", "pbs_agent", "metrics", *off, "--datastore", f"big={store}",
         "--state-dir", str(state)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    return {(s.name, s.labels.get("datastore", s.labels.get("collector", ""))): s.value
            for fam in text_string_to_metric_families(proc.stdout) for s in fam.samples}


def test_dedup_metrics_full_size(full_size_datastore: Path, scratch_dir: Path) -> None:
    m = _metrics(full_size_datastore, scratch_dir, "dedup")
    assert m[("pbs_agent_collector_success", "dedup")] == 1
    assert m[("pbs_datastore_scan_success", "big")] == 1
    assert m[("pbs_datastore_scan_errors", "big")] == 0
    assert m[("pbs_datastore_chunks_on_disk", "big")] == SUITE.chunk_files
    assert m[("pbs_datastore_referenced_chunks", "big")] == SUITE.chunk_files - SUITE.garbage
    assert m[("pbs_datastore_snapshots", "big")] == SUITE.groups * SUITE.snapshots_per_group


def test_hardware_metrics_full_size(full_size_datastore: Path, scratch_dir: Path) -> None:
    m = _metrics(full_size_datastore, scratch_dir, "hardware")
    assert m[("pbs_agent_collector_success", "hardware")] == 1
    assert m[("pbs_datastore_filesystem_info", "big")] == 1


def test_retention_metrics_full_size(full_size_datastore: Path, scratch_dir: Path) -> None:
    """Every group of the full-size datastore gets its prune forecast (no prune job here:
    nothing removed, the oldest snapshot kept)."""
    off = [f"--no-collector.{c}" for c in [*OTHERS, "dedup", "hardware"] if c != "retention"]
    proc = subprocess.run(
        [sys.executable, "-m", "pbs_agent", "metrics", *off, "--datastore",
         f"big={full_size_datastore}", "--state-dir", str(scratch_dir),
         "--pbs.config-dir", str(scratch_dir)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    samples = [s for fam in text_string_to_metric_families(proc.stdout) for s in fam.samples]
    removes = [s for s in samples if s.name == "pbs_group_prune_remove_snapshots"]
    assert len(removes) == SUITE.groups and {s.value for s in removes} == {0}
    assert len([s for s in samples
                if s.name == "pbs_group_oldest_snapshot_timestamp_seconds"]) == SUITE.groups
