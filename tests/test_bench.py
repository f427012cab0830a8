"""pbs-agent bench: rows, reference figures, JSON shape."""

from __future__ import annotations

import json

import pytest
import zstandard

from pbs_agent import bench
from pbs_agent.cli import main


def test_sample_chunk_is_4mib_and_part_compressible() -> None:
    chunk = bench.sample_chunk()
    assert len(chunk) == 4 * 1024 * 1024
    ratio = len(zstandard.ZstdCompressor(level=1).compress(chunk)) / len(chunk)
    assert 0.3 < ratio < 0.8
    assert bench.sample_chunk() == chunk  # deterministic


def test_run_benchmark_measures_local_rows_in_pbs_order() -> None:
    results = bench.run_benchmark(0.01, chunk=bench.sample_chunk(256 * 1024))
    assert [r.test for r in results] == list(bench.TESTS)
    by = {r.test: r for r in results}
    assert by["tls"].speed is None and by["tls"].render() == "not tested"
    for test in bench.LOCAL_TESTS:
        assert by[test].speed and by[test].speed > 1e6
    assert by["sha256"].top == 2022e6 and by["aes256_gcm"].top == 3645e6


def test_render_cell_uses_decimal_mb_and_percent_of_reference() -> None:
    r = bench.BenchResult("sha256", 1011e6, 2022e6)
    assert r.render() == "1011.00 MB/s (50%)"
    table = bench.render_table([r, bench.BenchResult("tls", None, 1235e6)])
    assert "| SHA256 checksum computation speed | 1011.00 MB/s (50%) |" in table
    assert "TLS (maximal backup upload speed)" in table


def test_unknown_test_is_rejected() -> None:
    with pytest.raises(ValueError, match="nope"):
        bench.run_benchmark(0.01, tests=["nope"])


def test_cli_json_only_selected_test(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--json", "--seconds", "0.01", "--test", "sha256"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == set(bench.TESTS)
    assert out["sha256"]["speed"] > 0 and out["sha256"]["top"] == 2022e6
    assert "speed" not in out["compress"]


def test_cli_rejects_bad_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--seconds", "0"]) == 2
    assert "--seconds" in capsys.readouterr().err
