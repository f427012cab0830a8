"""`pbs-agent report` on a datastore of real shape: 65,536 chunk dirs, 100,920 chunks."""

from __future__ import annotations

from pathlib import Path

from lab.datastore_gen import SUITE

from .conftest import assert_matches_reference, run_report


def test_report_full_size_cold_and_warm(full_size_datastore: Path, scratch_dir: Path) -> None:
    root, state = str(full_size_datastore), str(scratch_dir / "st")
    bound = 256 * (1 << 20) + 24 * (SUITE.chunk_files - SUITE.garbage)  # issue 12
    cold = run_report(root, timeout=300, prefix=["prlimit", f"--data={bound}", "--"])
    assert cold.returncode == 0, cold.stderr
    rep = cold.report
    assert rep["errors"] == []
    assert rep["datastore"]["chunks_on_disk"] == SUITE.chunk_files
    assert rep["datastore"]["garbage_chunks"] == SUITE.garbage
    assert_matches_reference(rep, root)
    first = run_report(root, state_dir=state, timeout=300)
    warm = run_report(root, state_dir=state, timeout=300)
    assert warm.report["scan"]["result_cached"]
    assert warm.report["scan"]["chunk_dirs_listed"] == 0
    assert warm.report["scan"]["index_files_read"] == 0
    assert first.report["datastore"] == warm.report["datastore"] == rep["datastore"]
    assert warm.seconds < cold.seconds
    assert max(cold.maxrss, first.maxrss, warm.maxrss) <= bound
