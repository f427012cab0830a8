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
import stat
import struct
import uuid as uuidlib
import zlib
from collections.abc import Callable, Iterable
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
#: Largest payload ``DataBlob::encode`` accepts (pbs-datastore/src/data_blob.rs, 3.2.4): the cap
#: of every decompression.
MAX_BLOB_SIZE = 128 * 1024 * 1024
#: Largest blob file PBS accepts (upload_blob's encoded-size, src/api2/backup/upload_chunk.rs).
MAX_BLOB_FILE = 16 * 1024 * 1024 + ENCRYPTED_BLOB_HEADER_SIZE
#: Largest chunk (upload_chunk's size maximum, the same file): bounds a dynamic index entry.
MAX_CHUNK_SIZE = 16 * 1024 * 1024
#: Manifest JSON accepted: 16 MiB decoded (real manifests are kilobytes: a few lines per
#: archive plus notes) with at most this many JSON values, so parsing stays within ~50 MiB
#: of Python objects whatever the input (``[{},{},…]`` costs ~70 bytes per 3 bytes of JSON).
MAX_MANIFEST_JSON = 16 * 1024 * 1024
MAX_MANIFEST_VALUES = 1 << 18
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

#: Flags of every open below a datastore: never block (a FIFO would), never follow a symlink.
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW
DIR_FLAGS = _OPEN_FLAGS | os.O_DIRECTORY
_FILE_TYPES = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISLNK, "symlink"),
               (stat.S_ISDIR, "directory"), (stat.S_ISCHR, "character device"),
               (stat.S_ISBLK, "block device"))


def file_type(mode: int) -> str:
    """A short name of a file type (``FIFO``, ``symlink``…) for messages."""
    for test, name in _FILE_TYPES:
        if test(mode):
            return name
    return "regular file" if stat.S_ISREG(mode) else "unknown file type"


def open_noatime(path: str | os.PathLike[str], flags: int = os.O_RDONLY | os.O_CLOEXEC,
                 *, dir_fd: int | None = None) -> int:
    """Open without updating atime where the kernel permits (the file's owner, or
    CAP_FOWNER); where it refuses (EPERM), open without ``O_NOATIME``."""
    try:
        return os.open(path, flags | os.O_NOATIME, dir_fd=dir_fd)
    except PermissionError:
        return os.open(path, flags, dir_fd=dir_fd)  # not the owner: O_NOATIME is refused


def open_directory(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> int:
    """A directory descriptor (O_NOATIME where permitted: listing it then leaves its atime);
    a symlink or anything else than a directory raises OSError (ELOOP / ENOTDIR)."""
    return open_noatime(path, DIR_FLAGS, dir_fd=dir_fd)


def open_regular(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """Open a regular file for reading, and only that: ``lstat`` first (a FIFO, socket,
    device or symlink is never opened), then ``O_NONBLOCK | O_NOFOLLOW`` (O_NOATIME where
    permitted) and a check that the file opened is the one inspected.

    Raises :class:`SourceError` naming *path* (vanished, denied, not a regular file).
    """
    spath = os.fspath(path)
    try:
        st = os.lstat(spath)
    except OSError as exc:
        raise SourceError(spath, os_reason(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(spath, f"not a regular file ({file_type(st.st_mode)}): skipped")
    try:
        fd = open_noatime(spath, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # became a symlink since the lstat
            raise SourceError(spath, "not a regular file (symlink): skipped") from None
        raise SourceError(spath, os_reason(exc)) from None
    try:
        now = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise SourceError(spath, os_reason(exc)) from None
    if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        kind = file_type(now.st_mode)
        raise SourceError(spath, f"not a regular file ({kind}): skipped" if kind != "regular file"
                          else "changed while opening: skipped")
    return fd, now


def read_bytes(path: str | os.PathLike[str], limit: int) -> bytes:
    """Read a whole regular file (see :func:`open_regular`), refusing more than *limit* bytes.

    Raises :class:`SourceError` (vanished, permission denied, not a regular file) or
    :class:`FormatError` (too large).
    """
    fd, st = open_regular(path)
    try:
        if st.st_size > limit:
            raise FormatError(str(path), f"file too large ({st.st_size} bytes > {limit})")
        chunks: list[bytes] = []
        remaining = limit + 1
        want = st.st_size + 1  # the first read allocates only what the file holds
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
#: Index entries handled at a time when an index is read from disk (2 MiB of a fixed index).
INDEX_PIECE_ENTRIES = 1 << 16


@dataclass(frozen=True, slots=True)
class IndexLayout:
    """An index header checked against the file length (nothing read beyond the header)."""

    kind: str  # "fidx" | "didx"
    entries: int
    logical_size: int  # fixed: the declared size; dynamic: the last end offset once read
    chunk_size: int = 0  # fixed index only

    @property
    def entry_size(self) -> int:
        return FIXED_ENTRY_SIZE if self.kind == "fidx" else DYNAMIC_ENTRY_SIZE


def index_layout(head: bytes | memoryview, length: int, path: str,
                 want: str | None = None) -> IndexLayout:
    """Check an index header (*head*: the file's first bytes, up to 4096) against the file
    *length*. A fixed index must have a chunk size PBS writes (a power of two from 64 KiB to
    4 MiB, ``verify_chunk_size`` in pbs-datastore/src/chunk_store.rs) and exactly the entries
    its declared size needs (as ``FixedIndexReader::new`` checks); a dynamic index a whole
    number of 40-byte entries. *want*: "fidx"/"didx" to require that kind.
    """
    magic = bytes(head[:8])
    kind = {FIXED_INDEX_MAGIC: "fidx", DYNAMIC_INDEX_MAGIC: "didx"}.get(magic)
    if want is not None and kind != want:
        if length < 8:
            raise FormatError(path, f"truncated index ({length} bytes)")
        name = "fixed" if want == "fidx" else "dynamic"
        raise FormatError(path, f"wrong magic {magic.hex()} for a {name} index")
    if kind is None:
        if length < 8:
            raise FormatError(path, f"truncated index ({length} bytes)")
        raise FormatError(path, f"wrong magic {magic.hex()}: not a fixed or dynamic index")
    name = "fixed" if kind == "fidx" else "dynamic"
    if length < INDEX_HEADER_SIZE:
        raise FormatError(path, f"truncated {name} index header ({length} of 4096 bytes)")
    area = length - INDEX_HEADER_SIZE
    if kind == "didx":
        if area % DYNAMIC_ENTRY_SIZE:
            raise FormatError(path, f"entry area of {area} bytes is not a multiple of 40")
        return IndexLayout("didx", area // DYNAMIC_ENTRY_SIZE, 0)
    *_, size, chunk_size = _FIXED_HEADER.unpack_from(head, 0)
    if chunk_size == 0:
        raise FormatError(path, "fixed index with chunk size 0")
    if chunk_size not in ALLOWED_FIXED_CHUNK_SIZES:
        raise FormatError(path, f"chunk size {chunk_size} is not one PBS writes "
                                "(a power of two from 64 KiB to 4 MiB)")
    if area % FIXED_ENTRY_SIZE:
        raise FormatError(path, f"entry area of {area} bytes is not a multiple of 32")
    count, expected = area // FIXED_ENTRY_SIZE, -(-size // chunk_size)
    if count != expected:
        raise FormatError(
            path, f"{count} entries but size {size} / chunk size {chunk_size} needs {expected}"
        )
    return IndexLayout("fidx", count, size, chunk_size)


def _check_ends(ends: np.ndarray, prev: int, first: int, path: str) -> None:
    """Dynamic index end offsets must increase strictly (the chunker never cuts an empty
    chunk), by at most 16 MiB per chunk (the largest chunk upload_chunk accepts,
    src/api2/backup/upload_chunk.rs). *prev*: the end before ``ends[0]``, *first*: its entry
    number."""
    if not len(ends):
        return
    prevs = np.empty(len(ends), np.uint64)
    prevs[0] = prev
    prevs[1:] = ends[:-1]
    bad = np.flatnonzero(ends <= prevs)
    if len(bad):
        i = int(bad[0])
        raise FormatError(path, f"end offsets not increasing ({ends[i]} after {prevs[i]})")
    big = np.flatnonzero(ends - prevs > MAX_CHUNK_SIZE)
    if len(big):
        i = int(big[0])
        raise FormatError(path, f"chunk {first + i} is {int(ends[i] - prevs[i])} bytes, more "
                                "than PBS's 16 MiB maximum")


def _scan_entries(layout: IndexLayout, read_at: Callable[[int, int], bytes | memoryview],
                  path: str, on_piece: Callable[[np.ndarray], None],
                  csum: bytes | None) -> IndexLayout:
    """Feed the digest prefixes of every entry to *on_piece*, INDEX_PIECE_ENTRIES at a time,
    checking dynamic end offsets on the way and, unless *csum* is None, the header's index
    checksum (SHA-256 of the entry area, written on close by ``FixedIndexWriter::close`` and
    ``DynamicIndexWriter::close``, pbs-datastore/src/{fixed,dynamic}_index.rs: a flipped bit
    anywhere in the entries is found); returns the layout with the logical size."""
    esize, prev = layout.entry_size, 0
    h = hashlib.sha256()
    for first in range(0, layout.entries, INDEX_PIECE_ENTRIES):
        n = min(INDEX_PIECE_ENTRIES, layout.entries - first)
        buf = read_at(INDEX_HEADER_SIZE + first * esize, n * esize)
        if csum is not None:
            h.update(buf)
        if layout.kind == "fidx":
            on_piece(np.frombuffer(buf, ">u8")[::4].astype(np.uint64))
            continue
        ends = np.frombuffer(buf, "<u8")[::5].astype(np.uint64)
        _check_ends(ends, prev, first, path)
        prev = int(ends[-1])
        on_piece(np.frombuffer(buf, ">u8", offset=8)[::5].astype(np.uint64))
    if csum is not None and h.digest() != csum:
        raise FormatError(path, f"index checksum mismatch (header {csum.hex()[:16]}, entries "
                                f"{h.hexdigest()[:16]}): the entries are corrupt")
    if layout.kind == "didx":
        return IndexLayout("didx", layout.entries, prev)
    return layout


def read_index_prefixes(path: str | os.PathLike[str], on_piece: Callable[[np.ndarray], None],
                        *, in_progress: bool = False) -> IndexLayout:
    """Read an index file in bounded pieces: check its header against its length, then hand
    the digest prefixes (first 8 bytes, big-endian uint64, in index order) to *on_piece*.

    A finished index is never sparse (PBS writes every entry, and no entry is all zero), so
    a hole in the entry area is refused before reading it, and its header checksum must
    match; unless *in_progress* (an index still being written, ``*.tmp_[fd]idx``: PBS fills
    its entries as chunks arrive and writes the checksum on close). Raises :class:`FormatError` or
    :class:`SourceError` naming the file.
    """
    spath = os.fspath(path)
    fd, st = open_regular(spath)
    length = st.st_size

    def read_at(offset: int, n: int) -> bytes:
        try:
            data = os.pread(fd, n, offset)
        except OSError as exc:
            raise SourceError(spath, os_reason(exc)) from None
        if len(data) != n:
            raise SourceError(spath, "changed while reading (shorter than its size): skipped")
        return data

    try:
        head = read_at(0, min(length, INDEX_HEADER_SIZE))
        layout = index_layout(head, length, spath)
        if not in_progress and layout.entries:
            _refuse_holes(fd, length, spath)
        return _scan_entries(layout, read_at, spath, on_piece,
                             None if in_progress else bytes(head[32:64]))
    finally:
        os.close(fd)


def _refuse_holes(fd: int, length: int, path: str) -> None:
    try:
        hole = os.lseek(fd, INDEX_HEADER_SIZE, os.SEEK_HOLE)
    except OSError:  # no SEEK_HOLE here: every byte counts as data
        return
    if hole < length:
        raise FormatError(path, f"hole at byte {hole}: index files are never sparse "
                                "(PBS writes every entry)")


def _whole_index(data: bytes, path: str,
                 want: str | None = None) -> tuple[IndexLayout, list[np.ndarray]]:
    view = memoryview(data)
    layout = index_layout(view[:INDEX_HEADER_SIZE], len(data), path, want)
    pieces: list[np.ndarray] = []
    layout = _scan_entries(layout, lambda off, n: view[off : off + n], path, pieces.append,
                           bytes(view[32:64]))
    return layout, pieces


def _index_file(data: bytes, path: str, want: str | None) -> IndexFile:
    layout, _ = _whole_index(data, path, want)
    _, uid, ctime, csum = _DYNAMIC_HEADER.unpack_from(data, 0)
    area = memoryview(data)[INDEX_HEADER_SIZE:]
    if layout.kind == "fidx":
        return IndexFile("fidx", str(uuidlib.UUID(bytes=uid)), ctime, csum,
                         layout.logical_size, layout.chunk_size, bytes(area))
    ends = struct.unpack_from("<" + "Q32x" * layout.entries, area) if layout.entries else ()
    digests = b"".join(bytes(area[i + 8 : i + 40])
                       for i in range(0, len(area), DYNAMIC_ENTRY_SIZE))
    return IndexFile("didx", str(uuidlib.UUID(bytes=uid)), ctime, csum,
                     layout.logical_size, 0, digests, tuple(ends))


def parse_fidx(data: bytes, path: str = "<fidx>") -> IndexFile:
    """Parse a fixed index (`.fidx`): 4096-byte header, then 32-byte digests."""
    return _index_file(data, path, "fidx")


def parse_didx(data: bytes, path: str = "<didx>") -> IndexFile:
    """Parse a dynamic index (`.didx`): 4096-byte header, then (u64 end, digest) entries."""
    return _index_file(data, path, "didx")


def parse_index(data: bytes, path: str = "<index>") -> IndexFile:
    """Parse a fixed or dynamic index, chosen by its magic."""
    return _index_file(data, path, None)


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
    """Validate an in-memory index exactly like :func:`read_index_prefixes` and return all
    its digest prefixes. Vectorised with numpy: no Python object per entry."""
    layout, pieces = _whole_index(data, path)
    prefixes = np.concatenate(pieces) if pieces else np.zeros(0, np.uint64)
    return IndexPrefixes(layout.kind, layout.logical_size, prefixes)


def digest_prefix(digest: bytes) -> int:
    """The 64-bit prefix the engine uses for a 32-byte digest (first 8 bytes, big-endian)."""
    return int.from_bytes(digest[:8], "big")


def read_index(path: str | os.PathLike[str]) -> IndexFile:
    """Read and parse a whole index file into Python objects (tests, small indexes)."""
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


ZSTD_FEED = 128  # compressed bytes per step: one step yields at most ~4 MiB (RLE blocks)


def _zstd_decompress(payload: bytes, path: str, limit: int) -> bytes:
    """Decompress one zstd frame, stopping as soon as the output passes *limit*: the
    payload is fed in small steps, so a bomb never gets far beyond the cap."""
    dobj = zstandard.ZstdDecompressor().decompressobj()
    pieces, total = [], 0
    view = memoryview(payload)
    try:
        for pos in range(0, len(view), ZSTD_FEED):
            piece = dobj.decompress(view[pos : pos + ZSTD_FEED])
            total += len(piece)
            if total > limit:
                raise FormatError(path, f"decompressed blob exceeds {limit >> 20} MiB")
            pieces.append(piece)
            if dobj.eof:
                break
    except zstandard.ZstdError as exc:
        raise FormatError(path, f"zstd data is corrupt: {exc}") from None
    if not dobj.eof:
        raise FormatError(path, "zstd frame is truncated")
    return b"".join(pieces)


def check_blob_crc(data: bytes, path: str = "<blob>") -> BlobKind:
    """Check the header CRC-32 (over everything after the header); return the kind."""
    kind = blob_kind(data, path)
    (stored,) = struct.unpack_from("<I", data, 8)
    actual = zlib.crc32(memoryview(data)[kind.header_size :])
    if stored != actual:
        raise FormatError(path, f"CRC-32 mismatch (stored {stored:08x}, computed {actual:08x})")
    return kind


def decode_blob(data: bytes, path: str = "<blob>", limit: int = MAX_BLOB_SIZE) -> bytes:
    """Decode an unencrypted DataBlob to its payload (at most *limit* bytes), checking the CRC.

    Encrypted blobs are recognised and refused: pbs_agent never decrypts.
    """
    kind = check_blob_crc(data, path)
    if kind.encrypted:
        raise FormatError(path, "encrypted blob: content not readable without the key")
    payload = bytes(data[BLOB_HEADER_SIZE:])
    if kind is BlobKind.COMPRESSED:
        return _zstd_decompress(payload, path, limit)
    if len(payload) > limit:
        raise FormatError(path, f"blob payload exceeds {limit >> 20} MiB")
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
    values = text.count(b",") + text.count(b"{") + text.count(b"[")
    if values > MAX_MANIFEST_VALUES:
        raise FormatError(path, f"manifest has about {values} JSON values, more than "
                                f"{MAX_MANIFEST_VALUES} (a PBS manifest has a few per file)")
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
    return parse_manifest_json(decode_blob(data, path, MAX_MANIFEST_JSON), path)


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read (regular files only, at most :data:`MAX_BLOB_FILE`) and parse a manifest."""
    return parse_manifest(read_bytes(path, MAX_BLOB_FILE), str(path))


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
