"""Property tests: arbitrary bytes as an index, blob or manifest give FormatError, never a crash;
the numpy index reader agrees with the object reader on every valid index."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pbs_agent import formats as f
from pbs_agent.errors import FormatError

HEADERS = st.sampled_from([b"", f.FIXED_INDEX_MAGIC, f.DYNAMIC_INDEX_MAGIC])
BLOB_MAGICS = st.sampled_from([b"", f.UNCOMPRESSED_BLOB_MAGIC, f.COMPRESSED_BLOB_MAGIC,
                               f.ENCRYPTED_BLOB_MAGIC, f.ENCR_COMPR_BLOB_MAGIC])


def _only_format_errors(fn, data: bytes) -> None:
    try:
        fn(data, "fuzz")
    except FormatError as exc:
        assert exc.path == "fuzz" and exc.reason


@settings(max_examples=300, deadline=None)
@given(HEADERS, st.binary(max_size=5000), st.integers(min_value=0, max_value=5000))
def test_arbitrary_index_bytes(magic: bytes, tail: bytes, pad: int) -> None:
    data = magic + tail + bytes(pad)
    for fn in (f.parse_index, f.index_prefixes, f.parse_fidx, f.parse_didx):
        _only_format_errors(fn, data)


@settings(max_examples=300, deadline=None)
@given(BLOB_MAGICS, st.binary(max_size=2000), st.booleans())
def test_arbitrary_blob_and_manifest_bytes(magic: bytes, body: bytes, fix_crc: bool) -> None:
    data = magic + body
    if fix_crc and len(data) >= 12:  # a valid CRC lets the fuzz reach zstd and JSON
        data = data[:8] + struct.pack("<I", f.zlib.crc32(data[12:])) + data[12:]
    for fn in (f.decode_blob, f.parse_manifest, f.check_blob_crc):
        _only_format_errors(fn, data)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c,
                                                                        max_size=4),
                    max_leaves=12),
       st.sampled_from(["backup-type", "backup-id", "backup-time", "files", "unprotected"]))
def test_arbitrary_manifest_json(value, key: str) -> None:
    import json

    base = {"backup-type": "vm", "backup-id": "1", "backup-time": 1, "files": []}
    base[key] = value
    _only_format_errors(f.parse_manifest, f.encode_blob(json.dumps(base).encode()))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=40),
       st.integers(min_value=0, max_value=4095), st.booleans())
def test_prefix_reader_agrees_with_object_reader(digests, short: int, dynamic: bool) -> None:
    if dynamic:
        entries = [((i + 1) * 100 + short, d) for i, d in enumerate(digests)]
        data = f.encode_didx(entries)
    else:
        size = max(len(digests) * 65536 - short, 0) if digests else 0
        data = f.encode_fidx(digests, size=size, chunk_size=65536)
    idx = f.parse_index(data, "p")
    pre = f.index_prefixes(data, "p")
    assert pre.kind == idx.kind and pre.logical_size == idx.logical_size
    want = np.array([f.digest_prefix(d) for d in idx.digest_list()], dtype=np.uint64)
    assert np.array_equal(pre.prefixes, want)
