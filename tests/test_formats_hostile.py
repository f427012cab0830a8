"""Hostile input to the format readers: wrong file types, absurd headers, bombs, sparse files.

Every case ends in a typed error naming the file, quickly and in bounded memory (issue 12).
"""

from __future__ import annotations

import os
import re
import socket
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import zstandard

from pbs_agent import formats as f
from pbs_agent.errors import FormatError, SourceError, printable

MIB = 1 << 20
DIGEST = bytes(range(32))


def _fifo(p: Path) -> Path:
    os.mkfifo(p)
    return p


def _socket(p: Path) -> Path:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    s.close()
    return p


def _symlink_loop(p: Path) -> Path:
    os.symlink(p.name, p)
    return p


def _symlink_to_file(p: Path) -> Path:
    (p.parent / "target").write_bytes(b"root@pam\n")
    os.symlink("target", p)
    return p


def _directory(p: Path) -> Path:
    p.mkdir()
    return p


@pytest.mark.parametrize("make,kind", [
    (_fifo, "FIFO"), (_socket, "socket"), (_symlink_loop, "symlink"),
    (_symlink_to_file, "symlink"), (_directory, "directory"),
])
def test_only_regular_files_are_read(tmp_path: Path, make, kind: str) -> None:
    """A FIFO must not block the reader (issue 12 #3); nothing but a regular file is opened."""
    path = make(tmp_path / "owner")
    t = time.monotonic()
    with pytest.raises(SourceError) as err:
        f.read_bytes(path, limit=4096)
    assert time.monotonic() - t < 2
    assert err.value.path == str(path)
    assert err.value.reason == f"not a regular file ({kind}): skipped"


def test_regular_file_replaced_between_lstat_and_open(tmp_path: Path, monkeypatch) -> None:
    """The file opened must be the one checked: a swap in between is refused."""
    path = tmp_path / "owner"
    path.write_bytes(b"x")
    real_open = os.open

    def swap(p, flags, *a, **kw):
        if str(p) == str(path):
            os.unlink(path)
            os.mkfifo(path)
        return real_open(p, flags, *a, **kw)

    monkeypatch.setattr(f.os, "open", swap)
    with pytest.raises(SourceError, match=r"not a regular file|changed while opening"):
        f.read_bytes(path, limit=4096)


@pytest.mark.parametrize("chunk_size", [4096, 3 << 16, 1 << 23, 1, (1 << 64) - 1])
def test_fixed_chunk_size_outside_pbs_sizes_rejected(chunk_size: int) -> None:
    """PBS writes fixed indexes with a power-of-two chunk size of 64 KiB..4 MiB
    (chunk_store.rs verify_chunk_size); 2**64-1 used to give a dedup factor of 5.9e11."""
    data = f.encode_fidx([DIGEST], size=min(chunk_size, (1 << 64) - 1), chunk_size=chunk_size)
    for fn in (f.parse_fidx, f.parse_index, f.index_prefixes):
        with pytest.raises(FormatError, match="chunk size"):
            fn(data, "x.fidx")


@pytest.mark.parametrize("chunk_size", sorted(f.ALLOWED_FIXED_CHUNK_SIZES))
def test_fixed_chunk_sizes_of_pbs_accepted(chunk_size: int) -> None:
    data = f.encode_fidx([DIGEST, DIGEST], size=chunk_size + 1, chunk_size=chunk_size)
    assert f.index_prefixes(data, "x.fidx").logical_size == chunk_size + 1


def test_fixed_absurd_declared_size_rejected() -> None:
    data = f.encode_fidx([DIGEST], size=(1 << 64) - 1, chunk_size=4 * MIB)
    with pytest.raises(FormatError, match="needs 4398046511104"):
        f.index_prefixes(data, "x.fidx")


@pytest.mark.parametrize("entries,reason", [
    ([(100, DIGEST), (100, DIGEST)], "end offsets not increasing (100 after 100)"),
    ([(0, DIGEST)], "end offsets not increasing (0 after 0)"),
    ([(5, DIGEST), (5 + 16 * MIB + 1, DIGEST)], "chunk 1 is 16777217 bytes"),
    ([((1 << 64) - 1, DIGEST)], "chunk 0 is 18446744073709551615 bytes"),
])
def test_dynamic_offsets_strictly_increasing_and_chunks_bounded(entries, reason: str) -> None:
    data = f.encode_didx(entries)
    for fn in (f.parse_didx, f.index_prefixes):
        with pytest.raises(FormatError, match=re.escape(reason)):
            fn(data, "x.didx")


def _write_index_header(path: Path, magic: bytes, size: int = 0, chunk_size: int = 0) -> None:
    head = struct.pack("<8s16sq32sQQ", magic, bytes(16), 0, bytes(32), size, chunk_size)
    path.write_bytes(head.ljust(f.INDEX_HEADER_SIZE, b"\0"))


@pytest.mark.parametrize("kind", ["fidx", "didx"])
def test_sparse_index_refused_fast_in_bounded_memory(tmp_path: Path, kind: str) -> None:
    """A 2 GiB sparse index with a valid header cost 4.1 GB RSS and was accepted."""
    path = tmp_path / f"big.{kind}"
    area = (2 << 30) // 160 * 160  # whole entries of either kind
    if kind == "fidx":
        entries = area // 32
        _write_index_header(path, f.FIXED_INDEX_MAGIC, entries * 4 * MIB, 4 * MIB)
    else:
        _write_index_header(path, f.DYNAMIC_INDEX_MAGIC)
    os.truncate(path, f.INDEX_HEADER_SIZE + area)
    tracemalloc.start()
    t = time.monotonic()
    try:
        with pytest.raises(FormatError) as err:
            f.read_index_prefixes(path, lambda piece: None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - t < 5
    assert err.value.path == str(path)
    assert err.value.reason == ("hole at byte 4096: index files are never sparse "
                                "(PBS writes every entry)")
    assert peak < 16 * MIB


def test_index_read_in_bounded_pieces(tmp_path: Path) -> None:
    """A valid 64 MiB fixed index streams through pieces: memory does not follow file size."""
    path = tmp_path / "disk.img.fidx"
    entries = 2 * MIB
    data = f.encode_fidx([DIGEST] * entries, size=entries * 4 * MIB)
    path.write_bytes(data)
    del data
    seen: list[int] = []
    tracemalloc.start()
    try:
        info = f.read_index_prefixes(path, lambda piece: seen.append(len(piece)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(seen) == entries and len(seen) > 1
    assert info.kind == "fidx" and info.entries == entries
    assert info.logical_size == entries * 4 * MIB
    assert peak < 8 * MIB


def test_streamed_reader_agrees_with_whole_reader(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    digests = [rng.bytes(32) for _ in range(70_000)]  # more than one piece
    ends = np.cumsum(rng.integers(1, 4 * MIB, len(digests)))
    for name, data in (("a.fidx", f.encode_fidx(digests, size=len(digests) * 65536 - 7,
                                                 chunk_size=65536)),
                       ("b.didx", f.encode_didx(zip(ends.tolist(), digests, strict=True)))):
        path = tmp_path / name
        path.write_bytes(data)
        pieces: list[np.ndarray] = []
        info = f.read_index_prefixes(path, pieces.append)
        whole = f.index_prefixes(data, name)
        assert np.array_equal(np.concatenate(pieces), whole.prefixes)
        assert info.logical_size == whole.logical_size


def test_dynamic_error_in_a_later_piece_names_the_entry(tmp_path: Path) -> None:
    entries = [(i + 1, DIGEST) for i in range(100_000)]
    entries[90_000] = (5, DIGEST)
    path = tmp_path / "x.didx"
    path.write_bytes(f.encode_didx(entries))
    with pytest.raises(FormatError, match=r"not increasing \(5 after 90000\)"):
        f.read_index_prefixes(path, lambda piece: None)


def _bomb(payload_size: int) -> bytes:
    cctx = zstandard.ZstdCompressor(level=3)
    chunk = bytes(MIB)
    out = cctx.compressobj()
    parts = [out.compress(chunk) for _ in range(payload_size // MIB)]
    body = b"".join(parts) + out.flush()
    return f.COMPRESSED_BLOB_MAGIC + struct.pack("<I", f.zlib.crc32(body)) + body


def test_zstd_bomb_capped_by_the_format() -> None:
    """A 100 KB bomb drove the process to 3.1 GB RSS: output is capped while decompressing."""
    bomb = _bomb(512 * MIB)
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="exceeds"):
            f.parse_manifest(bomb, "index.json.blob")
        manifest_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        with pytest.raises(FormatError, match="exceeds 128 MiB"):
            f.decode_blob(bomb, "x.blob")
        blob_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert manifest_peak < f.MAX_MANIFEST_JSON + 24 * MIB
    assert blob_peak < f.MAX_BLOB_SIZE + 24 * MIB


def test_blob_file_larger_than_pbs_uploads_refused(tmp_path: Path) -> None:
    """upload_blob accepts at most 16 MiB + the encrypted header (upload_chunk.rs)."""
    path = tmp_path / "index.json.blob"
    with open(path, "wb") as fh:
        fh.truncate(f.MAX_BLOB_FILE + 1)
    with pytest.raises(FormatError, match="too large"):
        f.read_manifest(path)


def test_manifest_json_value_explosion_refused() -> None:
    """`[{},{},…]` costs ~70 bytes of Python objects per 3 bytes of JSON."""
    text = b'{"backup-type":"vm","backup-id":"1","backup-time":1,"files":[],"x":[' \
        + b"{}," * 2_000_000 + b"{}]}"
    with pytest.raises(FormatError, match="JSON values"):
        f.parse_manifest(f.encode_blob(text), "index.json.blob")


def test_printable_escapes_undecodable_names() -> None:
    assert printable("vm/100/a.fidx") == "vm/100/a.fidx"
    assert printable(os.fsdecode(b"dr\xffive.img.fidx")) == "dr\\xffive.img.fidx"
    assert printable("lone \ud800 surrogate") == "lone \\ud800 surrogate"
    assert printable("caf\u00e9") == "caf\u00e9"
    printable(os.fsdecode(b"\xff\xfe")).encode("utf-8")  # always encodable


@pytest.mark.parametrize("kind", ["fidx", "didx"])
def test_index_checksum_catches_any_flipped_entry_bit(tmp_path: Path, kind: str) -> None:
    """The engine compares digests by their first 8 bytes: a flip in the other 24 went
    unseen. The header's SHA-256 of the entries (written by PBS on close) catches it."""
    digests = [bytes([i]) * 32 for i in range(1, 5)]
    data = bytearray(f.encode_fidx(digests, size=4 * 65536, chunk_size=65536)
                     if kind == "fidx" else
                     f.encode_didx([(100 * (i + 1), d) for i, d in enumerate(digests)]))
    data[f.INDEX_HEADER_SIZE + 60] ^= 0x10  # a digest's tail, not its 8-byte prefix
    path = tmp_path / f"x.{kind}"
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="index checksum mismatch"):
        f.read_index_prefixes(path, lambda piece: None)
    with pytest.raises(FormatError, match="index checksum mismatch"):
        f.index_prefixes(bytes(data), str(path))
    # an index still being written has no checksum yet: not checked
    info = f.read_index_prefixes(path, lambda piece: None, in_progress=True)
    assert info.entries == 4
