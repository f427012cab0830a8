"""estimate on directories, against a demo datastore, and with broken inputs."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import pytest

from pbs_agent.demo import build_demo
from pbs_agent.estimate import estimate
from pbs_agent.estimate.buzhash import chunk_lengths
from pbs_agent.estimate.tree import tree_stream
from pbs_agent.formats import MAX_BLOB_FILE, chunk_path, decode_blob, read_bytes, read_index

from .data import CHUNK, mixed_chunk, plain_totals, run_cli_unprivileged

KEYS = ("logical_bytes", "chunks", "unique_chunks", "unique_bytes", "compressed_bytes",
        "dedup_factor", "compression_factor")


def _tree(root: Path, rng: random.Random) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    big = rng.randbytes(9 * 1024 * 1024)
    (root / "a.img").write_bytes(big)
    (root / "z.copy").write_bytes(big)  # same content later in the stream
    (root / "link").symlink_to("etc/hosts")


def test_directory_matches_plain_stream_chunking(tmp_path: Path, rng: random.Random) -> None:
    _tree(tmp_path / "t", rng)
    errors: list = []
    stream = b"".join(tree_stream(str(tmp_path / "t"), errors.append))
    assert errors == []
    lengths = list(chunk_lengths(stream))
    chunks, off = [], 0
    for n in lengths:
        chunks.append(stream[off:off + n])
        off += n
    d = estimate([tmp_path / "t"], progress=False).as_dict()
    assert {k: d[k] for k in KEYS} == plain_totals([chunks])
    assert d["inputs"][0]["kind"] == "directory" and "Buzhash" in d["chunker"]["directory"]
    # content-defined cuts resynchronise inside the copy: most of it deduplicates
    assert d["unique_bytes"] < 0.8 * d["logical_bytes"]
    assert all(1 << 20 <= n <= 1 << 24 for n in lengths[:-1])


def test_directory_shares_chunks_with_identical_directory(tmp_path: Path,
                                                          rng: random.Random) -> None:
    _tree(tmp_path / "t", rng)
    d = estimate([tmp_path / "t", tmp_path / "t"], progress=False).as_dict()
    first, second = d["inputs"]
    assert second["new_chunks"] == 0 and second["chunks"] == first["chunks"]


def _demo_disk_image(ds: Path) -> tuple[bytes, int]:
    """Rebuild the newest VM disk of a demo datastore from its fidx and chunk files."""
    fidx = sorted(ds.glob("**/vm/*/*/drive-scsi0.img.fidx"))[-1]
    index = read_index(fidx)
    digests = index.digest_list()
    data = b"".join(decode_blob(read_bytes(chunk_path(ds, d), MAX_BLOB_FILE)) for d in digests)
    assert len(data) == index.logical_size
    return data, len(set(digests))


def test_against_demo_datastore(tmp_path: Path, rng: random.Random,
                                capsys: pytest.CaptureFixture[str]) -> None:
    ds = tmp_path / "ds"
    build_demo(str(ds), vms=1, cts=1, days=2, disk_chunks=4, pxar_chunks=2)
    disk, distinct = _demo_disk_image(ds)
    img = tmp_path / "disk.raw"
    extra = mixed_chunk(rng)
    img.write_bytes(extra + disk)  # one new chunk in front, then the stored disk
    # the shifted disk is still 4 MiB aligned because the new chunk is exactly 4 MiB
    from pbs_agent.cli import main

    rc = main(["estimate", "--json", "--against", str(ds),
               "--state-dir", str(tmp_path / "state"), str(img)])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["against"] == str(ds)
    assert d["unique_chunks"] == 1 and d["unique_bytes"] == CHUNK
    assert d["known_chunks"] == distinct and d["known_bytes"] > 0
    assert d["chunks"] == 1 + -(-len(disk) // CHUNK)
    assert d["inputs"][0]["new_chunks"] == 1
    no_store = estimate([img], progress=False).as_dict()
    assert no_store["unique_chunks"] == distinct + 1


def test_missing_path_is_named_and_others_still_estimated(
        tmp_path: Path, rng: random.Random, capsys: pytest.CaptureFixture[str]) -> None:
    from pbs_agent.cli import main

    good = tmp_path / "good.raw"
    good.write_bytes(mixed_chunk(rng))
    rc = main(["estimate", "--json", str(tmp_path / "nope.raw"), str(good)])
    captured = capsys.readouterr()
    assert rc == 1
    d = json.loads(captured.out)
    assert d["errors"] == [{"path": str(tmp_path / "nope.raw"),
                            "reason": "no such file or directory"}]
    assert [i["path"] for i in d["inputs"]] == [str(good)] and d["chunks"] == 1
    assert f"{tmp_path / 'nope.raw'}: no such file or directory" in captured.err


def test_only_bad_inputs_exit_2(tmp_path: Path) -> None:
    from pbs_agent.cli import main

    assert main(["estimate", str(tmp_path / "nope")]) == 2


def test_unreadable_file_and_unreadable_file_in_directory(world_dir: Path,
                                                          rng: random.Random) -> None:
    secret = world_dir / "secret.raw"
    secret.write_bytes(b"x" * 1000)
    secret.chmod(0o600)
    ok = world_dir / "ok.raw"
    ok.write_bytes(mixed_chunk(rng))
    ok.chmod(0o644)
    tree = world_dir / "tree"
    tree.mkdir(mode=0o755)
    (tree / "public").write_bytes(b"hello" * 1000)
    (tree / "public").chmod(0o644)
    (tree / "private").write_bytes(b"no")
    (tree / "private").chmod(0o600)
    if os.geteuid() == 0:
        os.chown(secret, 0, 0)
    proc = run_cli_unprivileged(["estimate", "--json", str(secret), str(ok), str(tree)])
    assert proc.returncode == 1, proc.stderr
    d = json.loads(proc.stdout)
    assert {"path": str(secret), "reason": "permission denied"} in d["errors"]
    assert {"path": str(tree / "private"), "reason": "permission denied"} in d["errors"]
    assert [i["path"] for i in d["inputs"]] == [str(ok), str(tree)]
    assert d["inputs"][0]["new_bytes"] == CHUNK
    assert d["inputs"][1]["logical_bytes"] > 5000  # the readable file was still read


def test_digests_are_plain_sha256(tmp_path: Path, rng: random.Random) -> None:
    """The ledger keeps the digests PBS would name the chunk files with."""
    from pbs_agent.estimate.pipeline import ChunkDigester

    data = mixed_chunk(rng)
    info = ChunkDigester()(data)
    assert info.digest == hashlib.sha256(data).digest() and info.size == CHUNK
    assert info.stored_size is not None and 12 < info.stored_size < CHUNK


def test_against_missing_datastore_is_a_named_error(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from pbs_agent.cli import main

    img = tmp_path / "x.raw"
    img.write_bytes(b"x")
    assert main(["estimate", "--against", str(tmp_path / "nostore"), str(img)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "nostore") in err and "no such" in err


def test_inputs_are_read_without_touching_atime(tmp_path: Path, rng: random.Random) -> None:
    old = 1_600_000_000  # 2020: relatime would refresh an atime this old on any read
    tree = tmp_path / "tree"
    tree.mkdir()
    files = [tree / "a", tmp_path / "img.raw", tmp_path / "control"]
    for f in files:
        f.write_bytes(rng.randbytes(1000))
    for p in [*files, tree]:
        os.utime(p, (old, old))
    files[2].read_bytes()  # control: a plain read on this mount
    if os.stat(files[2]).st_atime == old:
        pytest.skip("this filesystem does not update atime on read (noatime)")
    estimate([tree, files[1]], progress=False)
    assert [os.stat(p).st_atime for p in (files[0], files[1], tree)] == [old, old, old]
