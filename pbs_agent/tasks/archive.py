"""Incremental reading of the task archive files under ``<log-dir>/tasks/``.

PBS appends finished tasks to ``archive``; a daily rotation renames it to ``archive.1`` (same
inode) and compresses older ones to ``archive.N.zst`` (new inodes). Each file is remembered by
its identity (device, inode) with the offset read so far, so a refresh with nothing new reads
nothing; a file that only moved is not read again, and a newly compressed copy is read once
(the caller drops the UPIDs it already saw).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import zstandard

from ..errors import FormatError, SourceError, os_reason

_ROTATED_RE = re.compile(r"^archive\.(\d+)(\.zst)?$")


@dataclass(frozen=True)
class ArchiveFile:
    path: Path
    compressed: bool
    order: int  # higher = older


def archive_files(tasks_dir: Path) -> list[ArchiveFile]:
    """The archive files, oldest first: ``archive.N(.zst)`` … ``archive.1``, ``archive``."""
    try:
        names = os.listdir(tasks_dir)
    except OSError as exc:
        raise SourceError(str(tasks_dir), os_reason(exc)) from None
    files = []
    for name in names:
        if name == "archive":
            files.append(ArchiveFile(tasks_dir / name, False, 0))
        elif m := _ROTATED_RE.match(name):
            files.append(ArchiveFile(tasks_dir / name, bool(m[2]), int(m[1])))
    return sorted(files, key=lambda f: -f.order)


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


class ArchiveReader:
    """Yields the new complete lines of the archive files since the last call.

    ``positions`` maps file identity → ``[offset, size, mtime_ns]`` and is meant to be
    persisted by the caller (it is plain JSON data). A file that cannot be read is skipped
    and named in ``errors`` (it is tried again next time).
    """

    def __init__(self, tasks_dir: Path, positions: dict[str, list[int]] | None = None) -> None:
        self.tasks_dir = tasks_dir
        self.positions: dict[str, list[int]] = positions if positions is not None else {}
        self.errors: list[FormatError | SourceError] = []

    def new_lines(self) -> Iterator[str]:
        self.errors = []
        seen: dict[str, list[int]] = {}
        for af in archive_files(self.tasks_dir):
            try:
                st = af.path.stat()
            except OSError:
                continue  # rotated away between listdir and stat
            ident = _identity(st)
            old = self.positions.get(ident)
            if af.compressed:
                if old and old[1] == st.st_size and old[2] == st.st_mtime_ns:
                    seen[ident] = old
                    continue
                try:
                    lines = _zst_lines(af.path)
                except FormatError as exc:  # corrupt: reported once, not read again
                    self.errors.append(exc)
                    seen[ident] = [st.st_size, st.st_size, st.st_mtime_ns]
                    continue
                except SourceError as exc:
                    self.errors.append(exc)
                    continue
                yield from lines
                seen[ident] = [st.st_size, st.st_size, st.st_mtime_ns]
                continue
            offset = old[0] if old and old[0] <= st.st_size else 0
            if old and offset == st.st_size:
                seen[ident] = [offset, st.st_size, st.st_mtime_ns]
                continue
            try:
                lines, offset = _plain_lines(af.path, offset)
            except SourceError as exc:
                self.errors.append(exc)
                if old:
                    seen[ident] = old
                continue
            yield from lines
            seen[ident] = [offset, st.st_size, st.st_mtime_ns]
        self.positions.clear()
        self.positions.update(seen)


def _plain_lines(path: Path, offset: int) -> tuple[list[str], int]:
    """Complete lines after *offset*, and the offset after the last complete line."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError as exc:
        raise SourceError(str(path), os_reason(exc)) from None
    end = data.rfind(b"\n") + 1
    text = data[:end].decode("utf-8", errors="replace")
    return text.splitlines(), offset + end


def _zst_lines(path: Path) -> list[str]:
    try:
        with open(path, "rb") as fh:
            reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
            data = b"".join(iter(lambda: reader.read(1 << 20), b""))
    except OSError as exc:
        raise SourceError(str(path), os_reason(exc)) from None
    except zstandard.ZstdError as exc:
        raise FormatError(str(path), f"not valid zstd: {exc}") from None
    return data.decode("utf-8", errors="replace").splitlines()
