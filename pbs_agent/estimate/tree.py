"""Directories as one archive-like byte stream for the dynamic chunker.

PBS chunks the pxar archive of a directory: entries in name order, each a metadata header
followed by the file's contents. We do not encode real pxar; each entry is a small header of
our own (kind, mode, size, mtime, name) followed by the contents, in pxar's order (bytewise
sorted names, depth first). Chunk boundaries are PBS's over this stream, so content dedup
(unchanged large files, shifted data) behaves as PBS's does; the exact digests do not.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Callable, Iterator

from ..errors import SourceError, os_reason
from ..formats import open_noatime

BLOCK = 4 * 1024 * 1024
_HEADER = struct.Struct("<4sIQq")  # tag, mode, size, mtime_ns

OnError = Callable[[SourceError], None]


def _header(tag: bytes, st: os.stat_result, name: bytes, extra: bytes = b"") -> bytes:
    return _HEADER.pack(tag, st.st_mode, st.st_size, st.st_mtime_ns) + name + b"\0" + extra


def _file_contents(path: str, on_error: OnError) -> Iterator[bytes]:
    try:
        fd = open_noatime(path)
    except OSError as exc:
        on_error(SourceError(path, os_reason(exc)))
        return
    try:
        while block := os.read(fd, BLOCK):
            yield block
    except OSError as exc:
        on_error(SourceError(path, os_reason(exc)))
    finally:
        os.close(fd)


def _list_dir(path: str) -> list[bytes]:
    """Sorted entry names, read through an O_NOATIME descriptor where permitted."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | getattr(os, "O_NOATIME", 0))
    except PermissionError:
        fd = os.open(path, flags)  # not the owner: O_NOATIME is refused
    try:
        with os.scandir(fd) as it:
            return sorted(os.fsencode(e.name) for e in it)
    finally:
        os.close(fd)


def _entries(path: str, on_error: OnError) -> Iterator[bytes]:
    """Header and content pieces of the tree below *path* (not following symlinks)."""
    try:
        names = _list_dir(path)
    except OSError as exc:
        on_error(SourceError(path, os_reason(exc)))
        return
    for name in names:
        child = os.path.join(path, os.fsdecode(name))
        try:
            st = os.lstat(child)
            target = os.readlink(child) if stat.S_ISLNK(st.st_mode) else ""
        except OSError as exc:
            on_error(SourceError(child, os_reason(exc)))
            continue
        if stat.S_ISDIR(st.st_mode):
            yield _header(b"DIR\0", st, name)
            yield from _entries(child, on_error)
            yield b"GOODBYE\0"
        elif stat.S_ISREG(st.st_mode):
            yield _header(b"FILE", st, name)
            yield from _file_contents(child, on_error)
        elif stat.S_ISLNK(st.st_mode):
            yield _header(b"LINK", st, name, os.fsencode(target))
        else:
            yield _header(b"DEV\0", st, name)


def tree_stream(path: str, on_error: OnError, block: int = BLOCK) -> Iterator[bytes]:
    """The archive-like stream of directory *path* in pieces of about *block* bytes."""
    buf = bytearray()
    for piece in _entries(path, on_error):
        if not buf and len(piece) >= block:
            yield piece
            continue
        buf += piece
        if len(buf) >= block:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)
