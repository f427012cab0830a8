"""Dedup accounting across inputs and against the chunks an existing datastore references."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .pipeline import ChunkInfo


def digest_prefix(digest: bytes) -> int:
    """The first 8 digest bytes as a big-endian integer (the engine's prefix convention)."""
    return int.from_bytes(digest[:8], "big")


@dataclass
class Tally:
    """Counts for one input or the whole run."""

    logical_bytes: int = 0
    chunks: int = 0
    new_chunks: int = 0
    new_bytes: int = 0
    compressed_bytes: int | None = 0
    known_chunks: int = 0  # distinct chunks already in the --against datastore
    known_bytes: int = 0

    def add_new(self, info: ChunkInfo) -> None:
        self.new_chunks += 1
        self.new_bytes += info.size
        if self.compressed_bytes is not None and info.stored_size is not None:
            self.compressed_bytes += info.stored_size
        else:
            self.compressed_bytes = None


@dataclass
class Ledger:
    """Which digests were seen, in input order; the datastore's digest prefixes (sorted)."""

    present: np.ndarray | None = None
    seen: set[bytes] = field(default_factory=set)
    total: Tally = field(default_factory=Tally)

    def in_datastore(self, digest: bytes) -> bool:
        if self.present is None or not self.present.size:
            return False
        key = np.uint64(digest_prefix(digest))
        i = int(np.searchsorted(self.present, key))
        return i < self.present.size and self.present[i] == key

    def known(self, digest: bytes) -> bool:
        """True when the chunk costs nothing new (seen before, or in the datastore)."""
        return digest in self.seen or self.in_datastore(digest)

    def account(self, info: ChunkInfo, tally: Tally) -> None:
        """Count one chunk of the current input into *tally* and the run total."""
        for t in (tally, self.total):
            t.logical_bytes += info.size
            t.chunks += 1
        if info.digest in self.seen:
            return
        self.seen.add(info.digest)
        if self.in_datastore(info.digest):
            for t in (tally, self.total):
                t.known_chunks += 1
                t.known_bytes += info.size
            return
        tally.add_new(info)
        self.total.add_new(info)


def factor(num: int, den: int | None) -> float | None:
    """num/den rounded to 4 places; None when undefined (0 B, nothing new, not computed)."""
    if den is None or den == 0:
        return None
    return round(num / den, 4)


def tally_dict(t: Tally) -> dict[str, Any]:
    return {
        "logical_bytes": t.logical_bytes, "chunks": t.chunks,
        "new_chunks": t.new_chunks, "new_bytes": t.new_bytes,
        "new_compressed_bytes": t.compressed_bytes,
        "known_chunks": t.known_chunks, "known_bytes": t.known_bytes,
    }
