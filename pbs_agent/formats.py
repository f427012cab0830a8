"""Readers and writers for the PBS on-disk formats: fidx, didx, DataBlob, manifest.

All integers are little-endian; magics are the first 8 bytes of sha256 of a fixed string
(pbs-datastore/src/file_formats.rs). Every reader raises :class:`FormatError` naming the
file and the reason; none of them ever returns a guess.
"""

from __future__ import annotations

import enum
import errno
import hashlib
import json
import os
import re
import struct
import uuid as uuidlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zstandard

from .errors import FormatError, SourceError, os_reason


def _magic(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:8]


UNCOMPRESSED_BLOB_MAGIC = _magic("Proxmox Backup uncompressed blob v1.0")
COMPRESSED_BLOB_MAGIC = _magic("Proxmox Backup zstd compressed blob v1.0")
ENCRYPTED_BLOB_MAGIC = _magic("Proxmox Backup encrypted blob v1.0")
ENCR_COMPR_BLOB_MAGIC = _magic("Proxmox Backup zstd compressed encrypted blob v1.0")
FIXED_INDEX_MAGIC = _magic("Proxmox Backup fixed sized chunk index v1.0")
DYNAMIC_INDEX_MAGIC = _magic("Proxmox Backup dynamic sized chunk index v1.0")

INDEX_HEADER_SIZE = 4096
FIXED_ENTRY_SIZE = 32
DYNAMIC_ENTRY_SIZE = 40
BLOB_HEADER_SIZE = 12
ENCRYPTED_BLOB_HEADER_SIZE = 44
MAX_BLOB_SIZE = 128 * 1024 * 1024
DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024
ALLOWED_FIXED_CHUNK_SIZES = frozenset(1 << n for n in range(16, 23))  # 64 KiB .. 4 MiB
ZSTD_LEVEL = 1

CHUNK_NAME_RE = re.compile(r"^[0-9a-f]{64}$")
BAD_CHUNK_NAME_RE = re.compile(r"^[0-9a-f]{64}\.[0-9]\.bad$")
SNAPSHOT_NAME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
SAFE_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._\-]*$")
BACKUP_TYPES = ("vm", "ct", "host")
MANIFEST_NAME = "index.json.blob"
MAX_NAMESPACE_DEPTH = 7


class BlobKind(enum.Enum):
    """The four DataBlob magics."""

    UNCOMPRESSED = UNCOMPRESSED_BLOB_MAGIC
    COMPRESSED = COMPRESSED_BLOB_MAGIC
    ENCRYPTED = ENCRYPTED_BLOB_MAGIC
    ENCRYPTED_COMPRESSED = ENCR_COMPR_BLOB_MAGIC

    @property
    def encrypted(self) -> bool:
        return self in (BlobKind.ENCRYPTED, BlobKind.ENCRYPTED_COMPRESSED)

    @property
    def header_size(self) -> int:
        return ENCRYPTED_BLOB_HEADER_SIZE if self.encrypted else BLOB_HEADER_SIZE


class ChunkFileKind(enum.Enum):
    """What a file name inside `.chunks/XXXX/` is."""

    CHUNK = "chunk"
    BAD = "bad"
    OTHER = "other"  # .tmp_XXXXXX files of atomic writes, strays: never chunks


def classify_chunk_name(name: str) -> ChunkFileKind:
    """Classify a file name found in a chunk directory.

    >>> classify_chunk_name("ab" * 32).value
    'chunk'
    >>> classify_chunk_name("ab" * 32 + ".3.bad").value
    'bad'
    >>> classify_chunk_name("ab" * 32 + ".tmp_a1B2c3").value
    'other'
    """
    n = len(name)
    if n == 64 and CHUNK_NAME_RE.match(name):
        return ChunkFileKind.CHUNK
    if n == 70 and BAD_CHUNK_NAME_RE.match(name):
        return ChunkFileKind.BAD
    return ChunkFileKind.OTHER


# --------------------------------------------------------------------------- file access


def open_noatime(path: str | os.PathLike[str]) -> int:
    """Open read-only without updating atime where the kernel permits (owner or CAP_FOWNER)."""
    flags = os.O_RDONLY | os.O_CLOEXEC
    try:
        return os.open(path, flags | getattr(os, "O_NOATIME", 0))
    except PermissionError:
        return os.open(path, flags)  # not the owner: O_NOATIME is refused with EPERM


def read_bytes(path: str | os.PathLike[str], limit: int = MAX_BLOB_SIZE + 4096) -> bytes:
    """Read a whole file with O_NOATIME, refusing files larger than *limit*.

    Raises :class:`SourceError` (vanished, permission denied) or :class:`FormatError` (too large).
    """
    try:
        fd = open_noatime(path)
    except OSError as exc:
        raise SourceError(str(path), os_reason(exc)) from None
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise FormatError(str(path), f"file too large ({size} bytes > {limit})")
        chunks: list[bytes] = []
        remaining = limit + 1
        want = size + 1  # the first read allocates only what the file holds
        while remaining > 0:
            block = os.read(fd, min(remaining, want))
            want = 1 << 16
            if not block:
                break
            chunks.append(block)
            remaining -= len(block)
        data = b"".join(chunks)
        if len(data) > limit:
            raise FormatError(str(path), f"file too large (> {limit} bytes)")
        return data
    except OSError as exc:
        raise SourceError(str(path), os_reason(exc)) from None
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- indexes


@dataclass(frozen=True, slots=True)
class IndexFile:
    """A parsed fixed or dynamic index.

    ``digests`` is the concatenation of the 32-byte chunk digests in order (``count * 32``
    bytes); ``ends`` holds the dynamic index end offsets (empty for a fixed index).
    """

    kind: str  # "fidx" | "didx"
    uuid: str
    ctime: int
    index_csum: bytes
    logical_size: int
    chunk_size: int  # fixed index only; 0 for didx
    digests: bytes
    ends: tuple[int, ...] = ()

    @property
    def count(self) -> int:
        return len(self.digests) // 32

    def digest_list(self) -> list[bytes]:
        d = self.digests
        return [d[i : i + 32] for i in range(0, len(d), 32)]

    def chunk_sizes(self) -> list[int]:
        """Logical size of each chunk, in order."""
        if self.kind == "fidx":
            n = self.count
            sizes = [self.chunk_size] * n
            if n:
                sizes[-1] = self.logical_size - self.chunk_size * (n - 1)
            return sizes
        prev, out = 0, []
        for end in self.ends:
            out.append(end - prev)
            prev = end
        return out

    def computed_csum(self) -> bytes:
        """The index checksum recomputed from the entries (what PBS stores in the header)."""
        if self.kind == "fidx":
            return hashlib.sha256(self.digests).digest()
        h = hashlib.sha256()
        d = self.digests
        for i, end in enumerate(self.ends):
            h.update(struct.pack("<Q", end))
            h.update(d[i * 32 : i * 32 + 32])
        return h.digest()


_FIXED_HEADER = struct.Struct("<8s16sq32sQQ")
_DYNAMIC_HEADER = struct.Struct("<8s16sq32s")


def parse_fidx(data: bytes, path: str = "<fidx>") -> IndexFile:
    """Parse a fixed index (`.fidx`): 4096-byte header, then 32-byte digests."""
    if len(data) < INDEX_HEADER_SIZE:
        raise FormatError(path, f"truncated fixed index header ({len(data)} of 4096 bytes)")
    magic, uid, ctime, csum, size, chunk_size = _FIXED_HEADER.unpack_from(data, 0)
    if magic != FIXED_INDEX_MAGIC:
        raise FormatError(path, f"wrong magic {magic.hex()} for a fixed index")
    if chunk_size == 0:
        raise FormatError(path, "fixed index with chunk size 0")
    area = len(data) - INDEX_HEADER_SIZE
    if area % FIXED_ENTRY_SIZE:
        raise FormatError(path, f"entry area of {area} bytes is not a multiple of 32")
    count = area // FIXED_ENTRY_SIZE
    expected = -(-size // chunk_size)
    if count != expected:
        raise FormatError(
            path, f"{count} entries but size {size} / chunk size {chunk_size} needs {expected}"
        )
    return IndexFile(
        kind="fidx",
        uuid=str(uuidlib.UUID(bytes=uid)),
        ctime=ctime,
        index_csum=csum,
        logical_size=size,
        chunk_size=chunk_size,
        digests=bytes(data[INDEX_HEADER_SIZE:]),
    )


def parse_didx(data: bytes, path: str = "<didx>") -> IndexFile:
    """Parse a dynamic index (`.didx`): 4096-byte header, then (u64 end, digest) entries."""
    if len(data) < INDEX_HEADER_SIZE:
        raise FormatError(path, f"truncated dynamic index header ({len(data)} of 4096 bytes)")
    magic, uid, ctime, csum = _DYNAMIC_HEADER.unpack_from(data, 0)
    if magic != DYNAMIC_INDEX_MAGIC:
        raise FormatError(path, f"wrong magic {magic.hex()} for a dynamic index")
    area = len(data) - INDEX_HEADER_SIZE
    if area % DYNAMIC_ENTRY_SIZE:
        raise FormatError(path, f"entry area of {area} bytes is not a multiple of 40")
    count = area // DYNAMIC_ENTRY_SIZE
    mv = memoryview(data)[INDEX_HEADER_SIZE:]
    ends = struct.unpack_from("<" + "Q32x" * count, mv) if count else ()
    prev = 0
    for end in ends:
        if end < prev:
            raise FormatError(path, f"end offsets decrease ({end} after {prev})")
        prev = end
    digests = b"".join(bytes(mv[i + 8 : i + 40]) for i in range(0, area, DYNAMIC_ENTRY_SIZE))
    return IndexFile(
        kind="didx",
        uuid=str(uuidlib.UUID(bytes=uid)),
        ctime=ctime,
        index_csum=csum,
        logical_size=ends[-1] if ends else 0,
        chunk_size=0,
        digests=digests,
        ends=tuple(ends),
    )


def parse_index(data: bytes, path: str = "<index>") -> IndexFile:
    """Parse a fixed or dynamic index, chosen by its magic."""
    magic = bytes(data[:8])
    if magic == FIXED_INDEX_MAGIC:
        return parse_fidx(data, path)
    if magic == DYNAMIC_INDEX_MAGIC:
        return parse_didx(data, path)
    if len(data) < 8:
        raise FormatError(path, f"truncated index ({len(data)} bytes)")
    raise FormatError(path, f"wrong magic {magic.hex()}: not a fixed or dynamic index")


@dataclass(frozen=True, slots=True)
class IndexPrefixes:
    """What the dedup engine needs from an index: its logical size and digest prefixes.

    ``prefixes`` holds the first 8 bytes of every digest as big-endian uint64, in index
    order (so sorting them sorts by chunk directory, the top 16 bits).
    """

    kind: str
    logical_size: int
    prefixes: np.ndarray


def index_prefixes(data: bytes, path: str = "<index>") -> IndexPrefixes:
    """Validate an index exactly like :func:`parse_index` and return its digest prefixes.

    Vectorised with numpy: no Python object per entry.
    """
    magic = bytes(data[:8])
    if magic == FIXED_INDEX_MAGIC:
        return _fidx_prefixes(data, path)
    if magic == DYNAMIC_INDEX_MAGIC:
        return _didx_prefixes(data, path)
    if len(data) < 8:
        raise FormatError(path, f"truncated index ({len(data)} bytes)")
    raise FormatError(path, f"wrong magic {magic.hex()}: not a fixed or dynamic index")


def _fidx_prefixes(data: bytes, path: str) -> IndexPrefixes:
    if len(data) < INDEX_HEADER_SIZE:
        raise FormatError(path, f"truncated fixed index header ({len(data)} of 4096 bytes)")
    _m, _u, _c, _s, size, chunk_size = _FIXED_HEADER.unpack_from(data, 0)
    if chunk_size == 0:
        raise FormatError(path, "fixed index with chunk size 0")
    area = len(data) - INDEX_HEADER_SIZE
    if area % FIXED_ENTRY_SIZE:
        raise FormatError(path, f"entry area of {area} bytes is not a multiple of 32")
    count, expected = area // FIXED_ENTRY_SIZE, -(-size // chunk_size)
    if count != expected:
        raise FormatError(
            path, f"{count} entries but size {size} / chunk size {chunk_size} needs {expected}"
        )
    words = np.frombuffer(data, dtype=">u8", offset=INDEX_HEADER_SIZE)
    return IndexPrefixes("fidx", size, words[::4].astype(np.uint64))


def _didx_prefixes(data: bytes, path: str) -> IndexPrefixes:
    if len(data) < INDEX_HEADER_SIZE:
        raise FormatError(path, f"truncated dynamic index header ({len(data)} of 4096 bytes)")
    area = len(data) - INDEX_HEADER_SIZE
    if area % DYNAMIC_ENTRY_SIZE:
        raise FormatError(path, f"entry area of {area} bytes is not a multiple of 40")
    if area == 0:
        return IndexPrefixes("didx", 0, np.zeros(0, np.uint64))
    ends = np.frombuffer(data, dtype="<u8", offset=INDEX_HEADER_SIZE)[::5]
    if len(ends) > 1:
        drops = np.flatnonzero(ends[1:] < ends[:-1])
        if len(drops):
            i = int(drops[0])
            raise FormatError(path, f"end offsets decrease ({ends[i + 1]} after {ends[i]})")
    prefixes = np.frombuffer(data, dtype=">u8", offset=INDEX_HEADER_SIZE + 8)[::5]
    return IndexPrefixes(
        "didx", int(ends[-1]) if len(ends) else 0, prefixes.astype(np.uint64)
    )


def digest_prefix(digest: bytes) -> int:
    """The 64-bit prefix the engine uses for a 32-byte digest (first 8 bytes, big-endian)."""
    return int.from_bytes(digest[:8], "big")


def read_index(path: str | os.PathLike[str]) -> IndexFile:
    """Read and parse an index file from disk (atime untouched where permitted)."""
    return parse_index(read_bytes(path, limit=1 << 34), str(path))


def encode_fidx(
    digests: Iterable[bytes], size: int, chunk_size: int = DEFAULT_CHUNK_SIZE,
    *, uid: bytes | None = None, ctime: int = 0,
) -> bytes:
    """Encode a fixed index the way PBS writes it (header checksum over the digests)."""
    area = b"".join(digests)
    csum = hashlib.sha256(area).digest()
    header = _FIXED_HEADER.pack(
        FIXED_INDEX_MAGIC, uid or os.urandom(16), ctime, csum, size, chunk_size
    )
    return header.ljust(INDEX_HEADER_SIZE, b"\0") + area


def encode_didx(
    entries: Iterable[tuple[int, bytes]], *, uid: bytes | None = None, ctime: int = 0
) -> bytes:
    """Encode a dynamic index from (end offset, digest) pairs."""
    area = b"".join(struct.pack("<Q", end) + digest for end, digest in entries)
    csum = hashlib.sha256(area).digest()
    header = _DYNAMIC_HEADER.pack(DYNAMIC_INDEX_MAGIC, uid or os.urandom(16), ctime, csum)
    return header.ljust(INDEX_HEADER_SIZE, b"\0") + area


# --------------------------------------------------------------------------- blobs


def blob_kind(data: bytes, path: str = "<blob>") -> BlobKind:
    """The blob's kind from its magic, checking the header is complete."""
    if len(data) < BLOB_HEADER_SIZE:
        raise FormatError(path, f"truncated blob ({len(data)} bytes, header needs 12)")
    try:
        kind = BlobKind(bytes(data[:8]))
    except ValueError:
        raise FormatError(path, f"wrong magic {bytes(data[:8]).hex()}: not a DataBlob") from None
    if len(data) < kind.header_size:
        raise FormatError(path, f"truncated encrypted blob ({len(data)} bytes, header needs 44)")
    return kind


def _zstd_decompress(payload: bytes, path: str) -> bytes:
    try:
        dobj = zstandard.ZstdDecompressor().decompressobj()
        out = dobj.decompress(payload)
    except zstandard.ZstdError as exc:
        raise FormatError(path, f"zstd data is corrupt: {exc}") from None
    if len(out) > MAX_BLOB_SIZE:
        raise FormatError(path, "decompressed blob exceeds 128 MiB")
    if not dobj.eof:
        raise FormatError(path, "zstd frame is truncated")
    return out


def check_blob_crc(data: bytes, path: str = "<blob>") -> BlobKind:
    """Check the header CRC-32 (over everything after the header); return the kind."""
    kind = blob_kind(data, path)
    (stored,) = struct.unpack_from("<I", data, 8)
    actual = zlib.crc32(memoryview(data)[kind.header_size :])
    if stored != actual:
        raise FormatError(path, f"CRC-32 mismatch (stored {stored:08x}, computed {actual:08x})")
    return kind


def decode_blob(data: bytes, path: str = "<blob>") -> bytes:
    """Decode an unencrypted DataBlob to its payload, checking the CRC.

    Encrypted blobs are recognised and refused: pbs_agent never decrypts.
    """
    kind = check_blob_crc(data, path)
    if kind.encrypted:
        raise FormatError(path, "encrypted blob: content not readable without the key")
    payload = bytes(data[BLOB_HEADER_SIZE:])
    if kind is BlobKind.COMPRESSED:
        return _zstd_decompress(payload, path)
    return payload


def encode_blob(payload: bytes, *, compress: bool = True) -> bytes:
    """Encode an unencrypted DataBlob; zstd level 1 kept only when it is smaller."""
    magic, body = UNCOMPRESSED_BLOB_MAGIC, payload
    if compress:
        packed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(payload)
        if len(packed) < len(payload):
            magic, body = COMPRESSED_BLOB_MAGIC, packed
    return magic + struct.pack("<I", zlib.crc32(body)) + body


def encode_encrypted_blob_opaque(ciphertext: bytes, *, compressed: bool = False) -> bytes:
    """An encrypted-blob envelope around opaque bytes (IV and tag zero): for fixtures only."""
    magic = ENCR_COMPR_BLOB_MAGIC if compressed else ENCRYPTED_BLOB_MAGIC
    return magic + struct.pack("<I", zlib.crc32(ciphertext)) + bytes(32) + ciphertext


def chunk_digest(data: bytes) -> bytes:
    """The digest (and file name) of an unencrypted chunk: sha256 of the plaintext."""
    return hashlib.sha256(data).digest()


def chunk_path(root: str | os.PathLike[str], digest: bytes) -> str:
    """``<root>/.chunks/<first 4 hex>/<64 hex>``."""
    hx = digest.hex()
    return os.path.join(os.fspath(root), ".chunks", hx[:4], hx)


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True, slots=True)
class ManifestFile:
    filename: str
    crypt_mode: str
    size: int
    csum: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """The decoded `index.json.blob` of a snapshot."""

    backup_type: str
    backup_id: str
    backup_time: int
    files: tuple[ManifestFile, ...]
    verify_state: str | None = None  # "ok" | "failed" | None
    verify_upid: str | None = None
    chunk_upload_stats: dict[str, int] | None = None
    notes: str | None = None
    key_fingerprint: str | None = None
    signed: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def comment(self) -> str:
        """First line of the notes, as the PBS API shows it."""
        return (self.notes or "").split("\n", 1)[0]

    @property
    def encrypted(self) -> bool:
        return any(f.crypt_mode == "encrypt" for f in self.files)


def _req(obj: dict[str, Any], key: str, typ: type | tuple[type, ...], path: str) -> Any:
    if key not in obj:
        raise FormatError(path, f"manifest lacks '{key}'")
    val = obj[key]
    if not isinstance(val, typ) or (isinstance(val, bool) and typ is not bool):
        raise FormatError(path, f"manifest '{key}' has type {type(val).__name__}")
    return val


def parse_manifest_json(text: bytes, path: str = "<manifest>") -> Manifest:
    """Parse the JSON of a manifest (kebab-case keys, `unprotected` section)."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FormatError(path, f"manifest is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise FormatError(path, f"manifest is a JSON {type(obj).__name__}, not an object")
    btype = _req(obj, "backup-type", str, path)
    if btype not in BACKUP_TYPES:
        raise FormatError(path, f"manifest backup-type {btype!r} is not vm, ct or host")
    bid = _req(obj, "backup-id", str, path)
    btime = _req(obj, "backup-time", int, path)
    files = []
    for i, entry in enumerate(_req(obj, "files", list, path)):
        if not isinstance(entry, dict):
            raise FormatError(path, f"manifest files[{i}] is not an object")
        fname = _req(entry, "filename", str, path)
        size = _req(entry, "size", int, path)
        if size < 0:
            raise FormatError(path, f"manifest files[{i}] has negative size")
        files.append(ManifestFile(
            filename=fname,
            crypt_mode=str(entry.get("crypt-mode", "none")),
            size=size,
            csum=str(entry.get("csum", "")),
        ))
    unprotected = obj.get("unprotected") or {}
    if not isinstance(unprotected, dict):
        raise FormatError(path, "manifest 'unprotected' is not an object")
    verify = unprotected.get("verify_state")
    vstate = vupid = None
    if isinstance(verify, dict):
        vstate = verify.get("state") if verify.get("state") in ("ok", "failed") else None
        vupid = verify.get("upid") if isinstance(verify.get("upid"), str) else None
    stats = unprotected.get("chunk_upload_stats")
    if isinstance(stats, dict):
        stats = {k: v for k, v in stats.items() if isinstance(v, int) and not isinstance(v, bool)}
    else:
        stats = None
    notes = unprotected.get("notes")
    fpr = obj.get("key-fingerprint")
    return Manifest(
        backup_type=btype,
        backup_id=bid,
        backup_time=btime,
        files=tuple(files),
        verify_state=vstate,
        verify_upid=vupid,
        chunk_upload_stats=stats,
        notes=notes if isinstance(notes, str) else None,
        key_fingerprint=fpr if isinstance(fpr, str) else None,
        signed=isinstance(obj.get("signature"), str),
        raw=obj,
    )


def parse_manifest(data: bytes, path: str = "<manifest>") -> Manifest:
    """Decode a manifest blob and parse its JSON."""
    return parse_manifest_json(decode_blob(data, path), path)


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    return parse_manifest(read_bytes(path), str(path))


def encode_manifest(
    backup_type: str, backup_id: str, backup_time: int, files: Iterable[dict[str, Any]],
    unprotected: dict[str, Any] | None = None,
) -> bytes:
    """Encode a manifest blob as the client uploads it (pretty JSON, zstd when smaller)."""
    obj = {
        "backup-type": backup_type,
        "backup-id": backup_id,
        "backup-time": backup_time,
        "files": list(files),
        "signature": None,
        "unprotected": unprotected or {},
    }
    return encode_blob(json.dumps(obj, indent=2).encode())


def is_missing(exc: OSError) -> bool:
    return exc.errno == errno.ENOENT
