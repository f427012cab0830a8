"""Parallel chunk digesting: SHA-256 and the zstd level 1 DataBlob size, in a thread pool.

hashlib, zstandard and os.pread release the GIL for large buffers, so threads scale over
cores for 4 MiB chunks without copying data between processes.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import TypeVar

import zstandard

from ..formats import BLOB_HEADER_SIZE, ZSTD_LEVEL

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class ChunkInfo:
    """A digested chunk; *stored_size* is None when compression was skipped (already known)."""

    digest: bytes
    size: int
    stored_size: int | None


class ChunkDigester:
    """Digest chunks; compress only those *known* does not claim (one compressor per thread)."""

    def __init__(self, *, compress: bool = True,
                 known: Callable[[bytes], bool] = lambda _d: False) -> None:
        self.compress, self.known = compress, known
        self._local = threading.local()

    def _compressor(self) -> zstandard.ZstdCompressor:
        comp = getattr(self._local, "compressor", None)
        if comp is None:
            comp = self._local.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        return comp

    def buffer(self, size: int) -> bytearray:
        """A read buffer of *size* bytes owned by the calling thread (reused per chunk)."""
        buf = getattr(self._local, "buffer", None)
        if buf is None or len(buf) != size:
            buf = self._local.buffer = bytearray(size)
        return buf

    def __call__(self, data: bytes | memoryview) -> ChunkInfo:
        digest = hashlib.sha256(data).digest()
        stored = None
        if self.compress and not self.known(digest):
            stored = BLOB_HEADER_SIZE + min(len(self._compressor().compress(data)), len(data))
        return ChunkInfo(digest, len(data), stored)


def ordered_map(
    pool: Executor, fn: Callable[[T], R], items: Iterable[T], window: int,
) -> Iterator[R]:
    """``map`` over a pool with at most *window* items in flight, results in input order."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
