"""What the next garbage collection frees, and what stays pending until when.

PBS's sweep (``pbs-datastore/src/chunk_store.rs::sweep_unused_chunks``, proxmox-backup
4940514b, 3.2.4; the PBS 4 revision of ``datastore.rs::garbage_collection`` adds the
``gc-atime-cutoff`` tuning) removes a chunk file whose atime is older than

    min_atime = start − cutoff        (cutoff: gc-atime-cutoff minutes, default 24 h 5 min)
    min_atime = oldest_writer − 300   if a backup writer older than that is still running

and keeps as *pending* the ones with ``min_atime <= atime < oldest_writer`` (``start`` when no
writer runs). GC's mark phase updates the atime of every chunk an index references, so only
garbage (chunks nothing references, incl. unfinished snapshots) can be old. Here that rule is
applied to the engine's garbage chunks as if a GC started *now*: ``reclaimable`` is what it
would remove, ``pending`` what it would keep, and ``pending_until`` when the last of those
becomes removable (its atime + cutoff). Garbage that a running writer keeps is pending too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_CUTOFF_MIN = 24 * 60 + 5  # PBS: 3600 * 24 + 300 s when gc-atime-cutoff is unset
DEFAULT_CUTOFF_S = DEFAULT_CUTOFF_MIN * 60
WRITER_GAP_S = 300  # "account for 5 min safety gap" before the oldest writer


@dataclass(frozen=True, slots=True)
class GcRule:
    """The cutoff (seconds) and the start of the oldest running backup writer (None: none)."""

    cutoff_s: int = DEFAULT_CUTOFF_S
    oldest_writer: int | None = None

    def min_atime(self, start: int) -> int:
        """Chunks with an older atime are removed by a GC starting at *start*.

        >>> GcRule().min_atime(100_000), GcRule(oldest_writer=1000).min_atime(100_000)
        (13300, 700)
        """
        m = start - self.cutoff_s
        if self.oldest_writer is not None and self.oldest_writer < m:
            m = self.oldest_writer - WRITER_GAP_S
        return m


@dataclass(frozen=True, slots=True)
class Garbage:
    """Garbage chunk files: atimes (epoch s, sorted ascending) and their on-disk sizes."""

    atimes: np.ndarray
    sizes: np.ndarray

    @classmethod
    def of(cls, atimes: np.ndarray, sizes: np.ndarray) -> Garbage:
        order = np.argsort(atimes, kind="stable")
        return cls(np.asarray(atimes, np.int64)[order], np.asarray(sizes, np.int64)[order])

    def split(self, t: int) -> int:
        """How many garbage chunks have an atime before *t*."""
        return int(np.searchsorted(self.atimes, t, side="left"))


@dataclass(frozen=True, slots=True)
class Forecast:
    reclaimable_bytes: int = 0
    reclaimable_chunks: int = 0
    pending_bytes: int = 0
    pending_chunks: int = 0
    pending_until: int | None = None  # when the newest pending garbage becomes removable


def forecast(garbage: Garbage, now: int, rule: GcRule = GcRule()) -> Forecast:
    """Apply the sweep rule to *garbage* for a GC starting at *now*.

    >>> g = Garbage.of(np.array([0, 50_000, 99_000]), np.array([10, 20, 40]))
    >>> forecast(g, 100_000)
    Forecast(reclaimable_bytes=10, reclaimable_chunks=1, pending_bytes=60, pending_chunks=2, \
pending_until=185700)
    """
    n = garbage.split(rule.min_atime(now))
    sizes = garbage.sizes
    total = len(sizes)
    return Forecast(
        int(sizes[:n].sum()), n, int(sizes[n:].sum()), total - n,
        int(garbage.atimes[-1]) + rule.cutoff_s if total > n else None)


def pending_at(garbage: Garbage, start: int, rule: GcRule = GcRule()) -> tuple[int, int]:
    """(chunks, bytes) of today's garbage that a GC which started at *start* kept as pending:
    atime in ``[min_atime(start), start)``. Set beside ``.gc-status``'s ``pending-chunks`` it
    cross-checks the atime reading; the two differ when a backup re-used such a chunk since
    (it is no longer garbage) or a writer ran during that GC, and ``.bad`` files count in
    PBS's pending bytes only.

    >>> pending_at(Garbage.of(np.array([0, 50_000, 99_000]), np.array([10, 20, 40])), 99_000)
    (1, 20)
    """
    lo, hi = garbage.split(rule.min_atime(start)), garbage.split(start)
    return hi - lo, int(garbage.sizes[lo:hi].sum())
