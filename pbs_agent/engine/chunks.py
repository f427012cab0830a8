"""List the chunk store (``.chunks/XXXX/``): stat only, never open a chunk.

The listing is held as numpy arrays sorted by digest prefix (chunk directory order):
``prefixes`` (uint64, first 8 digest bytes big-endian) and ``sizes`` (uint32 on-disk bytes),
12 bytes per chunk. Directories are listed by a thread pool (stat releases the GIL); a
directory whose mtime matches the persisted state is taken from the state instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..errors import ScanIssue, os_reason
from ..formats import BAD_CHUNK_NAME_RE, CHUNK_NAME_RE
from ..progress import Progress
from ..state import StateStore

NDIRS = 1 << 16
RECORD = "chunks"
RECENT_NS = 2_000_000_000  # a dir changed < 2 s before the scan may change again unseen
MAX_CHUNK_FILE = (1 << 32) - 1
BATCH = 256
_HEX = frozenset("0123456789abcdef")
_EMPTY_U64 = np.zeros(0, np.uint64)
_EMPTY_U32 = np.zeros(0, np.uint32)


@dataclass(slots=True)
class DirListing:
    mtime_ns: int  # -1: not cacheable (error, absent or changed too recently)
    prefixes: np.ndarray
    sizes: np.ndarray
    bad: np.ndarray
    issues: list[ScanIssue] = field(default_factory=list)


@dataclass(slots=True)
class ChunkListing:
    prefixes: np.ndarray  # sorted uint64
    sizes: np.ndarray  # uint32, aligned with prefixes
    bad: np.ndarray  # sorted uint64 prefixes of *.bad files (one entry per file)
    issues: list[ScanIssue]
    dirs_listed: int
    fingerprint: str  # changes whenever any directory's content may have changed


def _dir_numbers(cfd: int, cpath: str, issues: list[ScanIssue]) -> list[int]:
    out = []
    with os.scandir(cfd) as it:
        for e in it:
            n = e.name
            if len(n) == 4 and set(n) <= _HEX and e.is_dir(follow_symlinks=False):
                out.append(int(n, 16))
    out.sort()
    return out


def _hex_prefixes(names: list[str]) -> np.ndarray:
    if not names:
        return _EMPTY_U64
    raw = bytes.fromhex("".join(n[:16] for n in names))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64)


def list_dir(cfd: int, cpath: str, num: int, scan_start_ns: int) -> DirListing:
    """List one chunk directory; sizes come from fstatat relative to the directory fd."""
    name = f"{num:04x}"
    dpath = os.path.join(cpath, name)
    try:
        mtime = os.stat(name, dir_fd=cfd, follow_symlinks=False).st_mtime_ns
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=cfd)
    except OSError as exc:
        issue = ScanIssue(dpath, os_reason(exc))
        return DirListing(-1, _EMPTY_U64, _EMPTY_U32, _EMPTY_U64, [issue])
    names: list[str] = []
    sizes: list[int] = []
    bad: list[str] = []
    issues: list[ScanIssue] = []
    try:
        with os.scandir(fd) as it:
            for e in it:
                n = e.name
                if len(n) == 64:
                    try:
                        st = os.stat(n, dir_fd=fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # removed by GC while we listed: not on disk
                    if stat.S_ISREG(st.st_mode):
                        names.append(n)
                        sizes.append(st.st_size)
                elif n.endswith(".bad") and BAD_CHUNK_NAME_RE.match(n):
                    bad.append(n)
    except OSError as exc:
        issues.append(ScanIssue(dpath, os_reason(exc)))
        mtime = -1
    finally:
        os.close(fd)
    prefixes, size_arr = _good_arrays(names, sizes, num, dpath, issues)
    bad_arr = np.sort(_hex_prefixes(bad))
    if mtime >= scan_start_ns - RECENT_NS or issues:
        mtime = -1  # issues are not persisted: list this directory again next time
    return DirListing(mtime, prefixes, size_arr, bad_arr, issues)


def _good_arrays(
    names: list[str], sizes: list[int], num: int, dpath: str, issues: list[ScanIssue]
) -> tuple[np.ndarray, np.ndarray]:
    joined = "".join(names)
    if joined != joined.lower() or not all(CHUNK_NAME_RE.match(n) for n in names):
        keep = [i for i, n in enumerate(names) if CHUNK_NAME_RE.match(n)]
        names, sizes = [names[i] for i in keep], [sizes[i] for i in keep]
    prefixes = _hex_prefixes(names)
    size_arr = np.array(sizes, dtype=np.int64)
    wrong = (prefixes >> np.uint64(48)) != np.uint64(num)
    big = size_arr > MAX_CHUNK_FILE
    if wrong.any() or big.any():
        for i in np.flatnonzero(wrong | big):
            why = "chunk file in the wrong directory" if wrong[i] else "file too large for a chunk"
            issues.append(ScanIssue(os.path.join(dpath, names[i]), f"{why}: ignored"))
        ok = ~(wrong | big)
        prefixes, size_arr = prefixes[ok], size_arr[ok]
    order = np.argsort(prefixes, kind="stable")
    return prefixes[order], size_arr[order].astype(np.uint32)


def list_chunks(
    root: str, store: StateStore | None, scan_start_ns: int, *,
    workers: int = 4, progress: bool = False,
) -> ChunkListing:
    """List every chunk directory, reusing persisted listings of unchanged directories."""
    cpath = os.path.join(root, ".chunks")
    issues: list[ScanIssue] = []
    try:
        cfd = os.open(cpath, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        issues.append(ScanIssue(cpath, os_reason(exc)))
        return ChunkListing(_EMPTY_U64, _EMPTY_U32, _EMPTY_U64, issues, 0, "none")
    try:
        return _list_all(cfd, cpath, store, scan_start_ns, workers, progress, issues)
    finally:
        os.close(cfd)


def _stat_mtimes(cfd: int, nums: list[int]) -> np.ndarray:
    out = np.full(len(nums), -1, dtype=np.int64)
    for i, num in enumerate(nums):
        with contextlib.suppress(OSError):
            out[i] = os.stat(f"{num:04x}", dir_fd=cfd, follow_symlinks=False).st_mtime_ns
    return out


def _list_all(
    cfd: int, cpath: str, store: StateStore | None, scan_start_ns: int, workers: int,
    progress: bool, issues: list[ScanIssue],
) -> ChunkListing:
    try:
        nums = _dir_numbers(cfd, cpath, issues)
    except OSError as exc:
        issues.append(ScanIssue(cpath, os_reason(exc)))
        return ChunkListing(_EMPTY_U64, _EMPTY_U32, _EMPTY_U64, issues, 0, "none")
    cached = _load(store)
    todo = nums
    mtimes_now = None
    if cached is not None:
        mtimes_now = _parallel(lambda part: _stat_mtimes(cfd, part), nums, workers)
        mtimes_now = np.concatenate(mtimes_now) if mtimes_now else np.zeros(0, np.int64)
        old = cached.arrays["mtimes"][np.array(nums, dtype=np.int64)] if nums else mtimes_now
        same = (old == mtimes_now) & (old >= 0)
        todo = [n for n, s in zip(nums, same, strict=True) if not s]
    bar = Progress("chunk dirs", total=len(todo), stream=True if progress else None)

    def work(part: list[int]) -> list[DirListing]:
        res = [list_dir(cfd, cpath, n, scan_start_ns) for n in part]
        bar.advance(len(part))
        return res

    fresh_lists = _parallel(work, todo, workers)
    bar.close()
    fresh = dict(zip(todo, (d for part in fresh_lists for d in part), strict=True))
    listing = _assemble(nums, fresh, cached, issues)
    if store is not None and (fresh or cached is None):
        _save(store, nums, fresh, cached, listing)
    return listing


def _parallel(fn, items: list[int], workers: int) -> list:
    parts = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    if workers <= 1 or len(parts) <= 1:
        return [fn(p) for p in parts]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, parts))


def _cached_slice(cached, num: int, key: str, okey: str) -> np.ndarray:
    off = cached.arrays[okey]
    return cached.arrays[key][off[num] : off[num + 1]]


def _assemble(nums, fresh, cached, issues) -> ChunkListing:
    if not fresh and cached is not None:
        pre, siz, bad = cached.arrays["prefixes"], cached.arrays["sizes"], cached.arrays["bad"]
        keep = np.zeros(NDIRS, bool)
        keep[np.array(nums, dtype=np.int64)] = True
        if keep.all() or _only_dirs(cached, keep):
            return ChunkListing(pre, siz, bad, issues, 0, cached.meta["fingerprint"])
    pieces_p, pieces_s, pieces_b = [], [], []
    for num in nums:
        d = fresh.get(num)
        if d is None:
            pieces_p.append(_cached_slice(cached, num, "prefixes", "offsets"))
            pieces_s.append(_cached_slice(cached, num, "sizes", "offsets"))
            pieces_b.append(_cached_slice(cached, num, "bad", "bad_offsets"))
        else:
            issues.extend(d.issues)
            pieces_p.append(d.prefixes)
            pieces_s.append(d.sizes)
            pieces_b.append(d.bad)
    prefixes = np.concatenate(pieces_p) if pieces_p else _EMPTY_U64
    del pieces_p
    sizes = np.concatenate(pieces_s) if pieces_s else _EMPTY_U32
    bad = np.concatenate(pieces_b) if pieces_b else _EMPTY_U64
    fp = _fingerprint(nums, fresh, cached)
    return ChunkListing(prefixes, sizes, bad, issues, len(fresh), fp)


def _only_dirs(cached, keep: np.ndarray) -> bool:
    """True when the cached listing holds chunks only in directories that still exist."""
    counts = np.diff(cached.arrays["offsets"]) + np.diff(cached.arrays["bad_offsets"])
    return not counts[~keep].any()


def _dir_mtimes(nums, fresh, cached) -> np.ndarray:
    mt = np.full(NDIRS, -1, dtype=np.int64)
    for num in nums:
        d = fresh.get(num)
        mt[num] = d.mtime_ns if d is not None else cached.arrays["mtimes"][num]
    return mt


def _fingerprint(nums, fresh, cached) -> str:
    if any(d.mtime_ns < 0 for d in fresh.values()):
        return "volatile"
    return hashlib.sha256(_dir_mtimes(nums, fresh, cached).tobytes()).hexdigest()


def _load(store: StateStore | None):
    if store is None:
        return None
    rec = store.load(RECORD)
    if rec is None:
        return None
    need = {"mtimes", "offsets", "prefixes", "sizes", "bad_offsets", "bad"}
    if not need <= rec.arrays.keys() or len(rec.arrays["mtimes"]) != NDIRS:
        return None
    return rec


def _save(store: StateStore, nums, fresh, cached, listing: ChunkListing) -> None:
    counts = np.zeros(NDIRS, np.int64)
    bad_counts = np.zeros(NDIRS, np.int64)
    if len(listing.prefixes):
        counts += np.bincount((listing.prefixes >> np.uint64(48)).astype(np.int64),
                              minlength=NDIRS)
    if len(listing.bad):
        bad_counts += np.bincount((listing.bad >> np.uint64(48)).astype(np.int64),
                                  minlength=NDIRS)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    bad_offsets = np.concatenate([[0], np.cumsum(bad_counts)])
    store.save(
        RECORD, {"fingerprint": listing.fingerprint},
        {
            "mtimes": _dir_mtimes(nums, fresh, cached), "offsets": offsets,
            "prefixes": listing.prefixes, "sizes": listing.sizes,
            "bad_offsets": bad_offsets, "bad": listing.bad,
        },
    )
