"""Format readers: one edge case at a time."""

from __future__ import annotations

import hashlib
import re
import struct
import zlib

import pytest

from pbs_agent import formats as f
from pbs_agent.errors import FormatError


def test_magics_match_reference() -> None:
    assert f.FIXED_INDEX_MAGIC.hex() == "2f7f41ed91fd0fcd"
    assert f.DYNAMIC_INDEX_MAGIC.hex() == "1c914ea519bab3cd"
    assert f.UNCOMPRESSED_BLOB_MAGIC.hex() == "42ab3807be8370a1"
    assert f.COMPRESSED_BLOB_MAGIC.hex() == "31b958426fb6a37f"
    assert f.ENCRYPTED_BLOB_MAGIC.hex() == "7b6785be222d4cf0"
    assert f.ENCR_COMPR_BLOB_MAGIC.hex() == "e6591bbf0bbfd80b"


def test_fidx_roundtrip_and_last_chunk_short() -> None:
    digests = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    data = f.encode_fidx(digests, size=2 * 65536 + 10, chunk_size=65536)
    idx = f.parse_fidx(data, "a.fidx")
    assert idx.digest_list() == digests
    assert idx.logical_size == 131082
    assert idx.chunk_sizes() == [65536, 65536, 10]
    assert idx.index_csum == idx.computed_csum()


def test_fidx_entry_area_not_multiple() -> None:
    data = f.encode_fidx([bytes(32)], size=10, chunk_size=65536) + b"x"
    with pytest.raises(FormatError, match="not a multiple of 32"):
        f.parse_fidx(data, "a.fidx")


def test_fidx_count_mismatch() -> None:
    data = f.encode_fidx([bytes(32)], size=70000, chunk_size=65536)
    with pytest.raises(FormatError, match="needs 2"):
        f.parse_fidx(data, "a.fidx")


def test_didx_roundtrip() -> None:
    entries = [(100, bytes([1]) * 32), (250, bytes([2]) * 32)]
    idx = f.parse_didx(f.encode_didx(entries), "a.didx")
    assert idx.logical_size == 250
    assert idx.chunk_sizes() == [100, 150]
    assert idx.index_csum == idx.computed_csum()


def test_didx_decreasing_offsets_rejected() -> None:
    data = f.encode_didx([(100, bytes(32)), (50, bytes(32))])
    with pytest.raises(FormatError, match="not increasing"):
        f.parse_didx(data, "a.didx")


def test_index_wrong_magic_and_truncation() -> None:
    with pytest.raises(FormatError, match="wrong magic"):
        f.parse_index(b"\0" * 4096, "x.fidx")
    with pytest.raises(FormatError, match="truncated"):
        f.parse_index(f.FIXED_INDEX_MAGIC + b"\0" * 10, "x.fidx")


@pytest.mark.parametrize("compress", [True, False])
def test_blob_roundtrip(compress: bool) -> None:
    payload = b"hello " * 1000
    blob = f.encode_blob(payload, compress=compress)
    kind = f.blob_kind(blob)
    assert kind is (f.BlobKind.COMPRESSED if compress else f.BlobKind.UNCOMPRESSED)
    assert f.decode_blob(blob) == payload


def test_blob_incompressible_stays_uncompressed() -> None:
    blob = f.encode_blob(bytes(range(256)) * 0 + hashlib.sha256(b"x").digest())
    assert f.blob_kind(blob) is f.BlobKind.UNCOMPRESSED


def test_blob_crc_mismatch() -> None:
    blob = bytearray(f.encode_blob(b"abc" * 100))
    blob[-1] ^= 0xFF
    with pytest.raises(FormatError, match="CRC-32 mismatch"):
        f.decode_blob(bytes(blob), "c")


@pytest.mark.parametrize("compressed", [False, True])
def test_encrypted_blob_recognised_not_decrypted(compressed: bool) -> None:
    blob = f.encode_encrypted_blob_opaque(b"secret-bytes", compressed=compressed)
    assert f.check_blob_crc(blob).encrypted
    with pytest.raises(FormatError, match="encrypted"):
        f.decode_blob(blob, "e")


def test_corrupt_zstd_payload() -> None:
    body = b"\x28\xb5\x2f\xfd" + b"\xff" * 20
    blob = f.COMPRESSED_BLOB_MAGIC + struct.pack("<I", zlib.crc32(body)) + body
    with pytest.raises(FormatError, match="zstd"):
        f.decode_blob(blob, "z")


def test_manifest_fields() -> None:
    blob = f.encode_manifest(
        "vm", "100", 1700000000,
        [{"filename": "drive-scsi0.img.fidx", "crypt-mode": "none", "size": 42, "csum": "00"}],
        {"verify_state": {"state": "ok", "upid": "UPID:x"}, "notes": "line1\nline2",
         "chunk_upload_stats": {"count": 1, "size": 2, "compressed_size": 1, "duplicates": 0}},
    )
    m = f.parse_manifest(blob, "index.json.blob")
    assert (m.backup_type, m.backup_id, m.backup_time) == ("vm", "100", 1700000000)
    assert m.files[0].size == 42
    assert m.verify_state == "ok" and m.comment == "line1"
    assert m.chunk_upload_stats == {"count": 1, "size": 2, "compressed_size": 1, "duplicates": 0}


@pytest.mark.parametrize("text, reason", [
    (b"{", "not valid JSON"),
    (b"[]", "not an object"),
    (b'{"backup-type": "vm"}', "lacks 'backup-id'"),
    (b'{"backup-type": "xx", "backup-id": "1", "backup-time": 1, "files": []}', "not vm"),
    (b'{"backup-type": "vm", "backup-id": "1", "backup-time": "1", "files": []}', "type str"),
])
def test_manifest_bad_json(text: bytes, reason: str) -> None:
    with pytest.raises(FormatError, match=reason):
        f.parse_manifest(f.encode_blob(text, compress=False), "m")


def test_chunk_name_classification() -> None:
    hx = "0a" * 32
    assert f.classify_chunk_name(hx) is f.ChunkFileKind.CHUNK
    assert f.classify_chunk_name(hx + ".0.bad") is f.ChunkFileKind.BAD
    assert f.classify_chunk_name(hx + ".tmp_Ab12Cd") is f.ChunkFileKind.OTHER
    assert f.classify_chunk_name(hx.upper()) is f.ChunkFileKind.OTHER


@pytest.mark.parametrize("data", [
    f.encode_fidx([], size=0), f.encode_didx([]),
])
def test_empty_indexes_have_no_prefixes(data: bytes) -> None:
    pre = f.index_prefixes(data, "e")
    assert len(pre.prefixes) == 0 and pre.logical_size == 0


def test_prefix_reader_rejects_like_object_reader() -> None:
    bad = [
        (f.encode_didx([(100, bytes(32)), (50, bytes(32))]),
         "end offsets not increasing (50 after 100)"),
        (f.encode_fidx([bytes(32)], size=70000, chunk_size=65536), "needs 2"),
        (f.encode_fidx([bytes(32)], size=10)[:100], "truncated fixed index header"),
        (f.encode_didx([(1, bytes(32))]) + b"x", "not a multiple of 40"),
        (b"short", "truncated index (5 bytes)"),
        (b"X" * 5000, "wrong magic 5858585858585858"),
    ]
    for data, reason in bad:
        with pytest.raises(FormatError, match=re.escape(reason)):
            f.index_prefixes(data, "i")
        with pytest.raises(FormatError, match=re.escape(reason)):
            f.parse_index(data, "i")


def test_fidx_chunk_size_zero() -> None:
    data = f.encode_fidx([], size=0, chunk_size=0)
    for fn in (f.parse_fidx, f.index_prefixes):
        with pytest.raises(FormatError, match="chunk size 0"):
            fn(data, "z")


def test_read_bytes_limit_and_missing(tmp_path) -> None:
    p = tmp_path / "big"
    p.write_bytes(b"x" * 100)
    assert f.read_bytes(p, limit=100) == b"x" * 100
    with pytest.raises(FormatError, match="too large"):
        f.read_bytes(p, limit=99)
    from pbs_agent.errors import SourceError

    with pytest.raises(SourceError, match="vanished"):
        f.read_bytes(tmp_path / "absent", limit=100)


def test_digest_prefix_orders_like_chunk_dirs() -> None:
    a, b = bytes.fromhex("0001" + "ff" * 30), bytes.fromhex("0100" + "00" * 30)
    assert f.digest_prefix(a) < f.digest_prefix(b)
    assert f.digest_prefix(b) >> 48 == 0x0100
