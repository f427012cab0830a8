"""estimate on generated images, cross-checked against a plain computation in the test."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from pbs_agent.cli import main
from pbs_agent.estimate import estimate

from .data import CHUNK, mixed_chunk, plain_chunks, plain_totals

KEYS = ("logical_bytes", "chunks", "unique_chunks", "unique_bytes", "compressed_bytes",
        "dedup_factor", "compression_factor")


def _write_image(path: Path, rng: random.Random) -> bytes:
    """Distinct chunks, a repeated chunk, a sparse zero hole of 3 chunks, a short tail."""
    a, b, c = (mixed_chunk(rng) for _ in range(3))
    tail = rng.randbytes(CHUNK // 3 + 17)
    with path.open("wb") as f:
        f.write(a + b + a)
        f.seek(3 * CHUNK + 3 * CHUNK)  # hole: three all-zero chunks, never written
        f.write(c + b + tail)
    data = path.read_bytes()
    assert os.stat(path).st_blocks * 512 < len(data)  # really sparse
    return data


def test_single_image_matches_plain_computation(tmp_path: Path, rng: random.Random,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    img = tmp_path / "disk.raw"
    data = _write_image(img, rng)
    assert main(["estimate", "--json", str(img)]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = plain_totals([plain_chunks(data)])
    assert {k: out[k] for k in KEYS} == expected
    assert out["chunks"] == 9 and out["unique_chunks"] == 5  # a, b, zero, c, tail
    assert out["unique_bytes"] == 4 * CHUNK + CHUNK // 3 + 17
    assert out["inputs"][0]["kind"] == "image" and "image" in out["chunker"]
    assert out["errors"] == []


def test_two_versions_incremental_cost(tmp_path: Path, rng: random.Random) -> None:
    chunks = [mixed_chunk(rng) for _ in range(10)]
    v1 = tmp_path / "v1.raw"
    v1.write_bytes(b"".join(chunks))
    changed = [1, 4, 8]  # 30 % of the chunks changed
    v2_chunks = [mixed_chunk(rng) if i in changed else c for i, c in enumerate(chunks)]
    v2 = tmp_path / "v2.raw"
    v2.write_bytes(b"".join(v2_chunks))
    d = estimate([v1, v2], progress=False).as_dict()
    first, second = d["inputs"]
    assert first["new_chunks"] == 10 and first["new_bytes"] == 10 * CHUNK
    assert second["chunks"] == 10 and second["new_chunks"] == 3
    assert second["new_bytes"] == 3 * CHUNK
    expected = plain_totals([chunks, v2_chunks])
    assert {k: d[k] for k in KEYS} == expected
    assert second["new_compressed_bytes"] == d["compressed_bytes"] - first["new_compressed_bytes"]


def test_jobs_do_not_change_results(tmp_path: Path, rng: random.Random) -> None:
    img = tmp_path / "disk.raw"
    _write_image(img, rng)
    one = estimate([img], jobs=1, progress=False).as_dict()
    two = estimate([img], jobs=3, progress=False).as_dict()
    assert one == two


def test_no_compress_reports_null_sizes(tmp_path: Path, rng: random.Random) -> None:
    img = tmp_path / "disk.raw"
    img.write_bytes(mixed_chunk(rng) * 2)
    d = estimate([img], compress=False, progress=False).as_dict()
    assert d["compressed_bytes"] is None and d["compression_factor"] is None
    assert d["unique_chunks"] == 1 and d["dedup_factor"] == 2.0


def test_empty_image(tmp_path: Path) -> None:
    img = tmp_path / "empty.raw"
    img.write_bytes(b"")
    d = estimate([img], progress=False).as_dict()
    assert (d["chunks"], d["logical_bytes"], d["dedup_factor"]) == (0, 0, None)  # n/a, not 1.00


def test_human_output(tmp_path: Path, rng: random.Random,
                      capsys: pytest.CaptureFixture[str]) -> None:
    img = tmp_path / "disk.raw"
    img.write_bytes(mixed_chunk(rng) * 3)
    assert main(["estimate", str(img)]) == 0
    out = capsys.readouterr().out
    assert "Logical bytes:      12 MiB (3 chunks)" in out
    assert "Unique bytes:       4 MiB (1 chunks)" in out
    assert "Dedup factor:       3.00" in out
    assert f"{img} (image): 12 MiB in 3 chunks, adds 4 MiB new" in out


def test_char_device_is_refused_by_name() -> None:
    d = estimate(["/dev/null"], progress=False)
    assert d.inputs == [] and d.errors[0].path == "/dev/null"
    assert "not a regular file, block device or directory" in d.errors[0].reason



def test_image_failing_mid_read_is_partial(tmp_path: Path, rng: random.Random,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A read error after some chunks: error named, the chunks read so far still counted."""
    from pbs_agent.errors import SourceError
    from pbs_agent.estimate import fixed

    img = tmp_path / "disk.raw"
    img.write_bytes(b"".join(mixed_chunk(rng) for _ in range(4)))
    real = fixed.Image.read_chunk

    def flaky(self, offset: int, buf: bytearray):
        if offset >= 2 * CHUNK:
            raise SourceError(self.path, f"read at offset {offset}: Input/output error")
        return real(self, offset, buf)

    monkeypatch.setattr(fixed.Image, "read_chunk", flaky)
    d = estimate([img], jobs=1, progress=False).as_dict()
    assert d["errors"][0]["path"] == str(img) and "Input/output error" in d["errors"][0]["reason"]
    assert d["inputs"][0]["complete"] is False and d["chunks"] == 2
