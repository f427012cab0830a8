"""Persistent scan state: versioned, checksummed records written atomically.

A record is ``MAGIC | u32 header length | JSON header | raw arrays | sha256 of all before``.
Writes go to a unique temp file, are fsynced, then renamed over the old record, so a
kill -9 at any moment leaves either the old or the new record. A record that fails its
checksum, magic or version is treated as absent: the caller rebuilds it. The state never
lives under a datastore (the caller passes a separate directory).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import sys
import time
from typing import Any

import numpy as np

MAGIC = b"PBSAGST\x01"
VERSION = 1
DEFAULT_STATE_DIR = "/var/lib/pbs-agent"
TMP_MARK = ".tmp-"
STALE_TMP_SECONDS = 600
#: What changed less than this before a scan started (index, manifest, chunk dir) is read but
#: not kept in the state: it may change again within the same timestamp, unseen.
RECENT_NS = 2_000_000_000
_warned: set[str] = set()


class Record:
    """A loaded record: JSON metadata plus named numpy arrays (read-only views)."""

    def __init__(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.meta, self.arrays = meta, arrays


def _pieces(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> list[memoryview]:
    """The record body as zero-copy pieces (header, then each array's raw bytes)."""
    specs, views = [], []
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        specs.append([name, arr.dtype.str, int(arr.size)])
        views.append(arr.data.cast("B") if arr.size else memoryview(b""))
    header = json.dumps({"version": VERSION, "meta": meta, "arrays": specs}).encode()
    return [memoryview(MAGIC + struct.pack("<I", len(header)) + header), *views]


def encode_record(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    pieces = _pieces(meta, arrays)
    h = hashlib.sha256()
    for piece in pieces:
        h.update(piece)
    return b"".join(pieces) + h.digest()


def decode_record(data: bytes) -> Record | None:
    """Decode a record; None when it is damaged, truncated or of another version.

    The arrays are read-only views into *data* (no copy)."""
    if len(data) < len(MAGIC) + 36 or not data.startswith(MAGIC):
        return None
    view = memoryview(data)
    body, digest = view[:-32], view[-32:]
    if hashlib.sha256(body).digest() != digest:
        return None
    (hlen,) = struct.unpack_from("<I", body, len(MAGIC))
    start = len(MAGIC) + 4
    try:
        header = json.loads(bytes(body[start : start + hlen]))
        if header.get("version") != VERSION:
            return None
        arrays, offset = {}, start + hlen
        for name, dtype, count in header["arrays"]:
            arr = np.frombuffer(body, dtype=np.dtype(dtype), count=count, offset=offset)
            arrays[name] = arr
            offset += arr.nbytes
    except (ValueError, KeyError, TypeError):
        return None
    return Record(header["meta"], arrays)


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


class StateStore:
    """Records of one datastore in ``<state_dir>/datastores/<id>/``."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    @classmethod
    def open(cls, state_dir: str | None, datastore_root: str) -> StateStore | None:
        """The store for *datastore_root*, or None (with a one-line warning) if unusable."""
        if state_dir is None:
            return None
        st = os.stat(datastore_root)
        ident = hashlib.sha256(
            f"{os.path.realpath(datastore_root)}\0{st.st_dev}\0{st.st_ino}".encode()
        ).hexdigest()[:24]
        directory = os.path.join(state_dir, "datastores", ident)
        try:
            os.makedirs(directory, mode=0o750, exist_ok=True)
            if not os.access(directory, os.W_OK | os.X_OK):
                raise PermissionError(13, "permission denied")
        except OSError as exc:
            if state_dir not in _warned:
                _warned.add(state_dir)
                reason = exc.strerror or type(exc).__name__
                print(f"pbs-agent: warning: state dir {state_dir} not usable ({reason}); "
                      "scanning without persisted state", file=sys.stderr)
            return None
        store = cls(directory)
        store.remove_stale_temps()
        return store

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def load(self, name: str) -> Record | None:
        try:
            with open(self.path(name), "rb") as fh:
                return decode_record(fh.read())
        except OSError:
            return None

    def save(self, name: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Write a record atomically (temp file, fsync, rename); failures are not fatal."""
        final = self.path(name)
        tmp = f"{final}{TMP_MARK}{os.getpid()}-{time.monotonic_ns()}"
        try:
            if "/" in name:  # a record in a subdirectory (one per group's index records)
                os.makedirs(os.path.dirname(final), mode=0o750, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
            try:
                h = hashlib.sha256()
                for piece in _pieces(meta, arrays):  # streamed: no copy of big arrays
                    h.update(piece)
                    _write_all(fd, piece)
                _write_all(fd, memoryview(h.digest()))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def names(self) -> list[str]:
        try:
            return [n for n in os.listdir(self.directory) if TMP_MARK not in n]
        except OSError:
            return []

    def remove(self, name: str) -> None:
        """Remove a record, or a subdirectory of records."""
        path = self.path(name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def prune(self, subdir: str, keep: set[str]) -> None:
        """Remove the records of *subdir* whose names (``subdir/name``) are not in *keep*."""
        try:
            names = os.listdir(self.path(subdir))
        except OSError:
            return
        for n in names:
            if f"{subdir}/{n}" not in keep and TMP_MARK not in n:
                self.remove(f"{subdir}/{n}")

    def remove_stale_temps(self) -> None:
        """Temp files left by a killed writer (older than 10 minutes) are removed."""
        now = time.time()
        try:
            entries = list(os.scandir(self.directory))
            for sub in [e.path for e in entries if e.is_dir(follow_symlinks=False)]:
                entries += list(os.scandir(sub))  # records in subdirectories
        except OSError:
            return
        for e in entries:
            if TMP_MARK in e.name:
                with contextlib.suppress(OSError):
                    if now - e.stat().st_mtime > STALE_TMP_SECONDS:
                        os.unlink(e.path)
