"""Run an estimate over images and directories, in input order, with a thread pool."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ScanIssue, SourceError, os_reason
from ..progress import Progress
from .buzhash import DEFAULT_AVG, DynamicChunker
from .fixed import Image
from .ledger import Ledger, Tally, factor, tally_dict
from .pipeline import ChunkDigester, ChunkInfo, ordered_map
from .tree import tree_stream

MiB = 1024 * 1024
CHUNKERS = {
    "image": "fixed 4 MiB chunks (as PBS for VM disks and block devices)",
    "directory": "PBS Buzhash, average 4 MiB (1..16 MiB): PBS's exact cut points, over an "
                 "approximated pxar stream (our own entry headers)",
}


@dataclass
class InputResult:
    path: str
    kind: str
    tally: Tally = field(default_factory=Tally)
    complete: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "complete": self.complete,
                **tally_dict(self.tally)}


@dataclass
class EstimateReport:
    """The result of :func:`estimate`; :meth:`as_dict` is the ``--json`` document."""

    inputs: list[InputResult]
    total: Tally
    errors: list[ScanIssue]
    against: str | None = None

    def as_dict(self) -> dict[str, Any]:
        t = self.total
        return {
            "logical_bytes": t.logical_bytes,
            "chunks": t.chunks,
            "unique_chunks": t.new_chunks,
            "unique_bytes": t.new_bytes,
            "compressed_bytes": t.compressed_bytes,
            "dedup_factor": factor(t.logical_bytes, t.new_bytes),
            "compression_factor": factor(t.new_bytes, t.compressed_bytes),
            "known_chunks": t.known_chunks,
            "known_bytes": t.known_bytes,
            "against": self.against,
            "chunker": {k: v for k, v in CHUNKERS.items()
                        if any(i.kind == k for i in self.inputs)},
            "inputs": [i.as_dict() for i in self.inputs],
            "errors": [e.as_dict() for e in self.errors],
        }


class _ByteProgress:
    """Progress in MiB on a TTY."""

    def __init__(self, total_bytes: int | None, enabled: bool) -> None:
        total = -(-total_bytes // MiB) if total_bytes else None
        self._p = Progress("estimate", total=total, unit=" MiB", stream=True if enabled else None)
        self._bytes = 0

    def add(self, n: int) -> None:
        before = self._bytes // MiB
        self._bytes += n
        if self._bytes // MiB > before:
            self._p.advance(self._bytes // MiB - before)

    def close(self) -> None:
        self._p.close()


def _classify(path: str) -> str:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SourceError(path, "no such file or directory") from None
    except OSError as exc:
        raise SourceError(path, os_reason(exc)) from None
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    if stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return "image"
    raise SourceError(path, "not a regular file, block device or directory")


def _directory_chunks(path: str, errors: list[ScanIssue], avg: int, pool: Executor,
                      ahead: int) -> Iterator[bytes]:
    """The dynamic chunks of a directory; block scans run *ahead* blocks in the pool."""
    chunker = DynamicChunker(avg)
    pending = bytearray()

    def cut(n: int) -> bytes:
        piece = bytes(pending[:n])
        del pending[:n]
        return piece

    blocks = tree_stream(path, lambda e: errors.append(ScanIssue.from_exc(e)))
    scans = ((block, scan) for block in blocks if (scan := chunker.window(block)) is not None)
    scanned = ordered_map(pool, lambda bs: (bs[0], bs[1].candidates()), scans, ahead)
    for block, cands in scanned:
        pending += block
        for n in chunker.cuts(cands):
            yield cut(n)
    last = chunker.finish()
    if last:
        yield cut(last)


class Estimator:
    """Holds the pool, the ledger and the digester for one run."""

    def __init__(self, pool: ThreadPoolExecutor, jobs: int, ledger: Ledger,
                 compress: bool, progress: _ByteProgress, avg: int) -> None:
        self.pool, self.window, self.ledger = pool, jobs * 2, ledger
        self.digest = ChunkDigester(compress=compress, known=ledger.known)
        self.progress, self.avg = progress, avg

    def _account(self, infos: Iterator[ChunkInfo], result: InputResult) -> None:
        for info in infos:
            self.ledger.account(info, result.tally)
            self.progress.add(info.size)

    def image(self, path: str, result: InputResult) -> None:
        img = Image.open(path)
        try:
            def one(offset: int) -> ChunkInfo:
                return self.digest(img.read_chunk(offset, self.digest.buffer(img.chunk_size)))

            work = ordered_map(self.pool, one, img.offsets(), self.window)
            self._account(work, result)
        finally:
            img.close()

    def directory(self, path: str, result: InputResult, errors: list[ScanIssue]) -> None:
        chunks = _directory_chunks(path, errors, self.avg, self.pool, self.window)
        self._account(ordered_map(self.pool, self.digest, chunks, self.window), result)


def _image_bytes(paths: Sequence[str]) -> int | None:
    """Total size of the inputs for progress, None if any is a directory or unreadable."""
    total = 0
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            return None
        total += st.st_size
    return total


def load_datastore_prefixes(datastore: str, state_dir: str | None = None) -> np.ndarray:
    """Sorted unique uint64 prefixes of the digests *datastore* references (engine)."""
    from ..engine import referenced_digest_prefixes

    prefixes = referenced_digest_prefixes(datastore, state_dir=state_dir)
    return np.unique(np.asarray(prefixes, dtype=np.uint64))


def estimate(
    paths: Sequence[str | Path], *, against: str | None = None, state_dir: str | None = None,
    jobs: int | None = None, compress: bool = True, progress: bool = True,
    avg: int = DEFAULT_AVG,
) -> EstimateReport:
    """Estimate what PBS would store for *paths*, each counted after those before it."""
    jobs = jobs or len(os.sched_getaffinity(0))
    strpaths = [os.fspath(p) for p in paths]
    present = load_datastore_prefixes(against, state_dir) if against else None
    ledger = Ledger(present=present)
    errors: list[ScanIssue] = []
    results: list[InputResult] = []
    prog = _ByteProgress(_image_bytes(strpaths), progress)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="estimate") as pool:
        est = Estimator(pool, jobs, ledger, compress, prog, avg)
        for path in strpaths:
            result = None
            try:
                result = InputResult(path, _classify(path))
                if result.kind == "image":
                    est.image(path, result)
                else:
                    est.directory(path, result, errors)
            except SourceError as exc:
                errors.append(ScanIssue.from_exc(exc))
                if result is None or not result.tally.chunks:
                    continue
                result.complete = False  # failed mid-way: what was read is in the totals
            results.append(result)
    prog.close()
    if not compress:
        ledger.total.compressed_bytes = None
    return EstimateReport(results, ledger.total, errors, against)


