"""List the chunk store (``.chunks/XXXX/``): stat only, never open a chunk.

The listing is held as numpy arrays sorted by digest prefix (chunk directory order):
``prefixes`` (uint64, first 8 digest bytes big-endian), ``sizes`` (uint32 on-disk bytes) and
``atimes`` (uint32 epoch seconds, from the same ``stat``: what GC's cutoff compares), 16 bytes
per chunk. With two CPUs, a large listing is shared between this process and a
forked child (:mod:`.fanout`: the per-file Python work is serialised by the GIL, so threads
cannot share it); otherwise directories are listed in batches by a thread pool (the stat
calls release the GIL). Names become numbers once per batch, not per file. A directory whose
stamp (its ctime, which moves on every change of its entries and also on chmod/chown, so a
directory made unreadable is listed again) matches the persisted state is taken from the
state instead of being listed, unless a garbage collection finished after it was listed
(``.gc-status`` is newer): GC's mark phase updates the atimes of the chunks in use without
changing any directory. Directories are opened with O_NOATIME where permitted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..errors import ScanIssue, os_reason
from ..formats import (
    BAD_CHUNK_NAME_RE,
    CHUNK_NAME_RE,
    DIR_FLAGS,
    file_type,
    open_directory,
    open_noatime,
)
from ..progress import Progress
from ..state import RECENT_NS, Record, StateStore
from .fanout import run_split, usable_cpus

NDIRS = 1 << 16
RECORD = "chunks"  # sorted arrays of the whole store
DIRS_RECORD = "chunk-dirs"  # per-directory stamps: all a rescan needs when nothing changed
MAX_CHUNK_FILE = (1 << 32) - 1
BATCH = 512
SPLIT_BATCH = 128  # directories per part handed out to the two listing processes
STAMP_PART = 4096  # directories per part when only their stamps are needed
MIN_SPLIT_DIRS = 4096  # fewer directories: a second process costs more than it saves
_HEX = frozenset("0123456789abcdef")
_HEX_BYTES = b"0123456789abcdef"
_EMPTY_U64 = np.zeros(0, np.uint64)
_EMPTY_U32 = np.zeros(0, np.uint32)
MAX_ATIME = (1 << 32) - 1  # uint32 seconds: until 2106
GC_STATUS = ".gc-status"  # written by PBS at the end of every successful GC
#: prefixes, sizes, bad prefixes, atimes
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_SHIFT = np.uint64(48)
DIR_NAMES = [f"{i:04x}" for i in range(NDIRS)]
ALL_DIRS = np.arange(NDIRS, dtype=np.int64)
NOT_A_DIR = -2  # stamp of a chunk directory name that is something else


@dataclass(slots=True)
class Batch:
    """The listing of a run of chunk directories, sorted by prefix."""

    nums: np.ndarray  # directory numbers
    stamps: np.ndarray  # per directory (ctime); -1: list again next time
    prefixes: np.ndarray
    sizes: np.ndarray
    bad: np.ndarray
    atimes: np.ndarray = field(default_factory=lambda: _EMPTY_U32)
    issues: list[ScanIssue] = field(default_factory=list)


class ChunkListing:
    """Sorted chunk arrays; when every directory is unchanged they are loaded only if used."""

    def __init__(self, issues: list[ScanIssue], dirs_listed: int, fingerprint: str,
                 arrays: Arrays | None = None, loader: Callable[[], Arrays] | None = None,
                 *, atimes_known: bool = True) -> None:
        self.issues, self.dirs_listed = issues, dirs_listed
        self.fingerprint = fingerprint  # changes whenever a directory may have changed
        self._arrays, self._loader = arrays, loader
        self.atimes_known = atimes_known  # False: no atimes (S3), no reclaim forecast
        self.processes = 1  # processes that listed directories
        self.peaks = (0, 0)  # traced peaks (this process until the child exited, the child)

    def _get(self) -> Arrays:
        if self._arrays is None:
            assert self._loader is not None
            self._arrays = self._loader()
        return self._arrays

    @property
    def prefixes(self) -> np.ndarray:
        """Sorted uint64 digest prefixes of the good chunk files."""
        return self._get()[0]

    @property
    def sizes(self) -> np.ndarray:
        """uint32 on-disk sizes, aligned with :attr:`prefixes`."""
        return self._get()[1]

    @property
    def bad(self) -> np.ndarray:
        """Sorted uint64 prefixes of the ``*.bad`` files (one entry per file)."""
        return self._get()[2]

    @property
    def atimes(self) -> np.ndarray:
        """uint32 access times (epoch seconds), aligned with :attr:`prefixes`."""
        return self._get()[3]

    def arrays(self) -> Arrays:
        return self._get()


def _empty(issues: list[ScanIssue]) -> ChunkListing:
    return ChunkListing(issues, 0, "none", (_EMPTY_U64, _EMPTY_U32, _EMPTY_U64, _EMPTY_U32))


def _hex_prefixes(names: list[str]) -> np.ndarray:
    if not names:
        return _EMPTY_U64
    raw = bytes.fromhex("".join([n[:16] for n in names]))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64)


def _list_one(cfd: int, num: int, out: tuple[list[str], list[int], list[int], list[str]],
              issues: list[ScanIssue], cpath: str, recent_ns: int) -> int:
    """Append one directory's chunk names, sizes, atimes and bad names to *out*; return its
    stamp (-1: error, or its entries changed at or after *recent_ns*: list it again next
    time)."""
    names, sizes, atimes, bad = out
    name = DIR_NAMES[num]
    try:
        fd = open_directory(name, dir_fd=cfd)
    except OSError as exc:
        reason = "not a directory: chunks in it cannot be counted" \
            if exc.errno in (errno.ENOTDIR, errno.ELOOP) else os_reason(exc)
        issues.append(ScanIssue(os.path.join(cpath, name), reason))
        return -1
    try:
        st = os.fstat(fd)
        stamp = -1 if st.st_mtime_ns >= recent_ns else st.st_ctime_ns
        for n in os.listdir(fd):
            if len(n) == 64:
                try:
                    st = os.stat(n, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed (by GC) while we listed: not on disk
                if stat.S_ISREG(st.st_mode):
                    names.append(n)
                    sizes.append(st.st_size)
                    atimes.append(int(st.st_atime))
            elif n.endswith(".bad") and BAD_CHUNK_NAME_RE.match(n):
                bad.append(n)
    except OSError as exc:
        issues.append(ScanIssue(os.path.join(cpath, name), os_reason(exc)))
        stamp = -1
    finally:
        os.close(fd)
    return stamp


def list_batch(cfd: int, cpath: str, nums: np.ndarray, scan_start_ns: int) -> Batch:
    """List a run of directories and turn the names into sorted prefix arrays."""
    names: list[str] = []
    sizes: list[int] = []
    atimes: list[int] = []
    bad: list[str] = []
    issues: list[ScanIssue] = []
    stamps, counts = [], []
    for num in nums:
        before = len(names)
        stamps.append(_list_one(cfd, num, (names, sizes, atimes, bad), issues, cpath,
                                scan_start_ns - RECENT_NS))
        counts.append(len(names) - before)
    mt = np.array(stamps, dtype=np.int64)
    nums_arr = np.array(nums, dtype=np.int64)
    dirs = np.repeat(nums_arr, counts)
    prefixes, size_arr, atime_arr, odd_dirs = _checked(names, sizes, atimes, dirs, cpath,
                                                       issues)
    if odd_dirs:  # file-level issues are not persisted: list those directories again
        mt[np.isin(nums_arr, np.array(sorted(odd_dirs), dtype=np.int64))] = -1
    order = np.argsort(prefixes, kind="stable")
    return Batch(nums_arr, mt, prefixes[order], size_arr[order],
                 np.sort(_hex_prefixes(bad)), atime_arr[order], issues)


def _all_hex(text: str) -> bool:
    """Only lowercase hex digits (one C pass; ``set(text)`` costs ~10 ns per character)."""
    return text.isascii() and not text.encode("ascii").translate(None, _HEX_BYTES)


def _checked(names: list[str], sizes: list[int], atimes: list[int], dirs: np.ndarray,
             cpath: str, issues: list[ScanIssue]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, set[int]]:
    """Prefixes, sizes and atimes of valid chunk names; wrong directory or size becomes an
    issue. Also returns the directories that had such an issue."""
    odd: set[int] = set()
    joined = "".join(names)
    if not _all_hex(joined):
        keep = [i for i, n in enumerate(names) if CHUNK_NAME_RE.match(n)]
        names, sizes, dirs = [names[i] for i in keep], [sizes[i] for i in keep], dirs[keep]
        atimes = [atimes[i] for i in keep]
        joined = "".join(names)
    prefixes = (np.frombuffer(bytes.fromhex(joined), dtype=">u8")[::4].astype(np.uint64)
                if names else _EMPTY_U64)
    size_arr = np.array(sizes, dtype=np.int64)
    atime_arr = np.clip(np.array(atimes, dtype=np.int64), 0, MAX_ATIME).astype(np.uint32)
    wrong = (prefixes >> _SHIFT).astype(np.int64) != dirs
    big = size_arr > MAX_CHUNK_FILE
    if wrong.any() or big.any():
        for i in np.flatnonzero(wrong | big):
            why = "chunk file in the wrong directory" if wrong[i] else "file too large for a chunk"
            path = os.path.join(cpath, f"{dirs[i]:04x}", names[i])
            issues.append(ScanIssue(path, f"{why}: ignored"))
            odd.add(int(dirs[i]))
        ok = ~(wrong | big)
        prefixes, size_arr, atime_arr = prefixes[ok], size_arr[ok], atime_arr[ok]
    return prefixes, size_arr.astype(np.uint32), atime_arr, odd


def list_chunks(
    root: str, store: StateStore | None, scan_start_ns: int, *,
    workers: int = 3, progress: bool = False, processes: int | None = None,
) -> ChunkListing:
    """List every chunk directory, reusing persisted listings of unchanged directories.

    *processes*: 2 shares the listing with a forked child, 1 keeps it in this process;
    None (default) uses the child for large listings when two CPUs are usable."""
    cpath = os.path.join(root, ".chunks")
    issues: list[ScanIssue] = []
    try:
        cfd = open_noatime(cpath, DIR_FLAGS & ~os.O_NOFOLLOW)
    except OSError as exc:
        issues.append(ScanIssue(cpath, os_reason(exc)))
        return _empty(issues)
    dirs = _load_dirs(store)
    gc_mark = gc_mark_ns(root)
    if dirs is not None:  # a GC since a directory was listed: its atimes are stale
        dirs.arrays["listed"] = np.where(dirs.arrays["listed"] < gc_mark, -1,
                                         dirs.arrays["listed"])
    now = None
    try:
        if dirs is not None:  # one stat per possible directory: existence, type and stamp
            now = _all_stamps(cfd, ALL_DIRS, processes)
            nums = np.flatnonzero(now >= 0)
            _not_dirs(cfd, cpath, np.flatnonzero(now == NOT_A_DIR), issues)
            now = now[nums]
        else:
            nums = _dir_numbers(cfd, cpath, issues)
    except OSError as exc:
        os.close(cfd)
        issues.append(ScanIssue(cpath, os_reason(exc)))
        return _empty(issues)
    try:
        return _list_all(cfd, cpath, nums, (dirs, now), store, (scan_start_ns, gc_mark),
                         (workers, processes), progress, issues)
    finally:
        os.close(cfd)


def gc_mark_ns(root: str) -> int:
    """When the last successful GC ended (mtime of ``.gc-status``, ns); 0 if none is known."""
    try:
        return os.stat(os.path.join(root, GC_STATUS), follow_symlinks=False).st_mtime_ns
    except OSError:
        return 0


def _dir_numbers(cfd: int, cpath: str, issues: list[ScanIssue]) -> np.ndarray:
    """The chunk directories present; a chunk directory name that is not a directory is an
    issue (its chunks cannot be counted: they show as missing)."""
    out: list[int] = []
    odd: list[int] = []
    with os.scandir(cfd) as it:
        for e in it:
            n = e.name
            if len(n) == 4 and set(n) <= _HEX:
                (out if e.is_dir(follow_symlinks=False) else odd).append(int(n, 16))
    _not_dirs(cfd, cpath, np.array(sorted(odd), dtype=np.int64), issues)
    return np.array(sorted(out), dtype=np.int64)  # 8 bytes per dir, not a Python int


def _not_dirs(cfd: int, cpath: str, nums: np.ndarray, issues: list[ScanIssue]) -> None:
    for num in nums.tolist():
        name = DIR_NAMES[num]
        try:
            kind = file_type(os.stat(name, dir_fd=cfd, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            continue  # gone meanwhile
        except OSError as exc:
            kind = os_reason(exc)
        issues.append(ScanIssue(os.path.join(cpath, name),
                                f"not a directory ({kind}): chunks in it cannot be counted"))


def _stat_stamps(cfd: int, nums: np.ndarray) -> np.ndarray:
    """Stamps of directories *nums* (-1: missing or cannot stat, NOT_A_DIR); one
    comprehension in the common case (the per-call cost is most of a rescan)."""
    names = [DIR_NAMES[n] for n in nums.tolist()]
    st = os.stat
    try:
        return np.array([_dir_stamp(st(n, dir_fd=cfd, follow_symlinks=False)) for n in names],
                        dtype=np.int64)
    except OSError:
        pass
    out = np.full(len(nums), -1, dtype=np.int64)
    for i, name in enumerate(names):
        with contextlib.suppress(OSError):
            out[i] = _dir_stamp(st(name, dir_fd=cfd, follow_symlinks=False))
    return out


def _dir_stamp(st: os.stat_result) -> int:
    return st.st_ctime_ns if stat.S_ISDIR(st.st_mode) else NOT_A_DIR


def _all_stamps(cfd: int, nums: np.ndarray, processes: int | None) -> np.ndarray:
    """stamps of all directories *nums*, with a forked child when worth it."""
    parts = [nums[i : i + STAMP_PART] for i in range(0, len(nums), STAMP_PART)]
    if _with_child(processes, len(nums)):
        with contextlib.suppress(OSError):  # no fork possible: stat them here
            return np.concatenate(run_split(lambda p: _stat_stamps(cfd, p), parts).results)
    return np.concatenate([_stat_stamps(cfd, p) for p in parts])


def _with_child(processes: int | None, ndirs: int) -> bool:
    if processes is None:
        return usable_cpus() >= 2 and ndirs >= MIN_SPLIT_DIRS
    return processes >= 2 and ndirs > 0


@dataclass(slots=True)
class _Listed:
    batches: list[Batch]
    processes: int = 1
    peaks: tuple[int, int] = (0, 0)


def _list_dirs(cfd: int, cpath: str, nums: np.ndarray, scan_start_ns: int,
               how: tuple[int, int | None], bar: Progress | None = None) -> _Listed:
    """List directories *nums* in batches: with a forked child when worth it, else threads."""
    workers, processes = how

    def work(part: np.ndarray) -> Batch:
        return list_batch(cfd, cpath, part, scan_start_ns)

    def tick(b: Batch) -> Batch:
        if bar is not None:
            bar.advance(len(b.nums))
        return b

    if _with_child(processes, len(nums)):
        parts = [nums[i : i + SPLIT_BATCH] for i in range(0, len(nums), SPLIT_BATCH)]
        try:
            split = run_split(work, parts, tick)
        except OSError:  # no fork possible (limits, memory): list here
            pass
        else:
            return _Listed(split.results, 1 if split.child_failed else 2,
                           (split.parent_peak_traced, split.child_peak_traced))
    if usable_cpus() < 2:  # threads would only add GIL hand-offs on one CPU
        workers = 1
    return _Listed(_parallel(lambda part: tick(work(part)), nums, workers))


def _parallel(fn: Callable[[np.ndarray], Batch], items: np.ndarray, workers: int) -> list[Batch]:
    parts = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    if workers <= 1 or len(parts) <= 1:
        return [fn(p) for p in parts]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, parts))


def _list_all(
    cfd: int, cpath: str, nums: np.ndarray, known: tuple[Record | None, np.ndarray | None],
    store: StateStore | None, times: tuple[int, int], how: tuple[int, int | None],
    progress: bool, issues: list[ScanIssue],
) -> ChunkListing:
    """*known*: the persisted directory record and the directories' stamps now (rescan);
    *times*: when this scan started and when the last GC ended (ns)."""
    dirs, now = known
    scan_start_ns, gc_mark = times
    todo = nums
    if dirs is not None and now is not None and len(nums):
        old = dirs.arrays["stamps"][nums]
        same = (old == now) & (old >= 0) & (dirs.arrays["listed"][nums] >= 0)
        todo = nums[~same]
        if not len(todo) and _only_in(dirs, nums):
            gen = dirs.meta["generation"]
            return ChunkListing(issues, 0, dirs.meta["fingerprint"], loader=lambda: (
                _cached_arrays(store, gen) or _relist(cpath, nums, scan_start_ns, how)))
    cached = _load_arrays(store, dirs) if dirs is not None else None
    if cached is None:
        todo = nums
    bar = Progress("chunk dirs", total=len(todo), stream=True if progress else None)
    listed = _list_dirs(cfd, cpath, todo, scan_start_ns, how, bar)
    bar.close()
    batches = listed.batches
    for b in batches:
        issues.extend(b.issues)
    stamps, when = _dir_stamps(nums, batches, dirs if cached is not None else None,
                               scan_start_ns)
    listing = _assemble(batches, (cached, nums), stamps, issues, gc_mark)
    listing.processes, listing.peaks = listed.processes, listed.peaks
    if store is not None and (batches or cached is None):
        _save(store, listing, stamps, when)
    return listing


def _relist(cpath: str, nums: np.ndarray, scan_start_ns: int,
            how: tuple[int, int | None]) -> Arrays:
    """Fallback when the persisted arrays vanished: list everything again (runs after
    :func:`list_chunks` closed its directory fd, so it opens its own)."""
    cfd = open_noatime(cpath, DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        batches = _list_dirs(cfd, cpath, nums, scan_start_ns, how).batches
    finally:
        os.close(cfd)
    return _assemble(batches, (None, nums), np.zeros(0, np.int64), []).arrays()


def _only_in(dirs: Record, nums: np.ndarray) -> bool:
    """True when no directory known to the state has disappeared."""
    known = dirs.arrays["stamps"] >= 0
    known[nums] = False
    return not known.any()


def _assemble(batches: list[Batch], reuse: tuple[Arrays | None, np.ndarray],
              stamps: np.ndarray, issues: list[ScanIssue], gc_mark: int = 0) -> ChunkListing:
    """*reuse*: the persisted arrays (or None) and the directories present now; *gc_mark*:
    when the last GC ended (part of the fingerprint: GC changes atimes, not directories)."""
    parts_p, parts_s, parts_b, parts_a = [], [], [], []
    cached, nums = reuse
    if cached is not None:
        relisted = np.ones(NDIRS, bool)  # gone since: drop their cached entries
        relisted[nums] = False
        for b in batches:
            relisted[b.nums] = True  # listed again: drop their cached entries
        cp, cs, cb, ca = cached
        keep = ~relisted[(cp >> _SHIFT).astype(np.int64)]
        parts_p.append(cp[keep])
        parts_s.append(cs[keep])
        parts_a.append(ca[keep])
        parts_b.append(cb[~relisted[(cb >> _SHIFT).astype(np.int64)]])
    volatile = any((b.stamps < 0).any() for b in batches)
    listed = sum(len(b.nums) for b in batches)
    parts_p += [b.prefixes for b in batches]
    parts_s += [b.sizes for b in batches]
    parts_b += [b.bad for b in batches]
    parts_a += [b.atimes for b in batches]
    for b in batches:  # free the pieces while concatenating (peak memory)
        b.prefixes = b.sizes = b.nums = b.stamps = b.atimes = _EMPTY_U64
    prefixes = np.concatenate(parts_p) if parts_p else _EMPTY_U64
    del parts_p
    sizes = np.concatenate(parts_s) if parts_s else _EMPTY_U32
    del parts_s
    atimes = np.concatenate(parts_a) if parts_a else _EMPTY_U32
    del parts_a
    bad = np.sort(np.concatenate(parts_b)) if parts_b else _EMPTY_U64
    if cached is not None and batches:
        order = np.argsort(prefixes, kind="stable")
        prefixes, sizes, atimes = prefixes[order], sizes[order], atimes[order]
    mark = gc_mark.to_bytes(8, "little", signed=True)
    fp = "volatile" if volatile else hashlib.sha256(stamps.tobytes() + mark).hexdigest()
    return ChunkListing(issues, listed, fp, (prefixes, sizes, bad, atimes))


def _dir_stamps(nums: np.ndarray, batches: list[Batch], dirs: Record | None,
                scan_start_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per directory: its stamp and when it was listed (-1: list it again next time)."""
    mt = np.full(NDIRS, -1, dtype=np.int64)
    when = np.full(NDIRS, -1, dtype=np.int64)
    if dirs is not None and len(nums):
        mt[nums] = dirs.arrays["stamps"][nums]
        when[nums] = dirs.arrays["listed"][nums]
    for b in batches:
        mt[b.nums] = b.stamps
        when[b.nums] = scan_start_ns
    return mt, when


def _load_dirs(store: StateStore | None) -> Record | None:
    rec = store.load(DIRS_RECORD) if store is not None else None
    if rec is None or any(len(rec.arrays.get(k, ())) != NDIRS for k in ("stamps", "listed")):
        return None
    rec.arrays = dict(rec.arrays)  # the listing times are adjusted in place (GC since)
    rec.arrays["listed"] = np.array(rec.arrays["listed"])
    return rec


def _cached_arrays(store: StateStore | None, generation: str) -> Arrays | None:
    rec = store.load(RECORD) if store is not None else None
    if rec is None or rec.meta.get("generation") != generation:
        return None
    if not {"prefixes", "sizes", "bad", "atimes"} <= rec.arrays.keys():
        return None
    a = rec.arrays
    return a["prefixes"], a["sizes"], a["bad"], a["atimes"]


def _load_arrays(store: StateStore | None, dirs: Record) -> Arrays | None:
    return _cached_arrays(store, dirs.meta.get("generation", ""))


def _save(store: StateStore, listing: ChunkListing, stamps: np.ndarray,
          listed_at: np.ndarray) -> None:
    """Arrays first, then the directory record naming them: a kill in between leaves a
    directory record whose generation no longer matches, so the arrays are rebuilt."""
    generation = os.urandom(8).hex()
    store.save(RECORD, {"generation": generation}, {
        "prefixes": listing.prefixes, "sizes": listing.sizes, "bad": listing.bad,
        "atimes": listing.atimes})
    store.save(DIRS_RECORD, {"generation": generation, "fingerprint": listing.fingerprint},
               {"stamps": stamps, "listed": listed_at})
