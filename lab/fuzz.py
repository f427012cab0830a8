"""Fuzzing as a tier: corrupted copies of a datastore, the real `pbs-agent report` on each.

Every case copies a small real datastore (:func:`pbs_agent.demo.build_demo`: fixed and
dynamic indexes, namespaces, garbage, missing and ``.bad`` chunks), does one hostile thing to
it — truncation, bit flips, wrong magic, absurd headers, FIFOs, sockets, symlink loops,
undecodable names, permission changes, files vanishing mid-scan, zstd bombs, sparse files —
and runs ``pbs-agent report --json`` in a child (:mod:`lab.measure`). A case fails on:

* **crash** — exit code not 0, a traceback, or no JSON report;
* **hang** — still running after :data:`HANG_S` seconds;
* **memory** — peak RSS above 256 MiB + 24 bytes per referenced chunk;
* **moved** — a group the mutation did not touch reports other numbers than on the clean
  copy (``exclusive_bytes`` excepted: it depends on the other groups by definition);
* **unreported** — the fault is not reported: no error naming the damaged path (or, for a
  mutation whose effect is data, neither an error nor a change of the group's numbers;
  for a lost chunk, no rise of the missing count of the groups referencing it).

As root, cases run as an unprivileged member of group ``backup`` (uid 65534, gid 34), so a
``chmod 000`` denies as it would deny the agent's service user.

    python -m lab.fuzz --cases 200 --seed 1      # a quick look; benchmarks/bench_fuzz.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from lab import measure
from pbs_agent import formats as f
from pbs_agent.demo import build_demo
from pbs_agent.errors import printable

REPO = str(Path(__file__).resolve().parents[1])
HANG_S = 30.0
MIB = 1 << 20
RSS_BASE, RSS_PER_CHUNK = 256 * MIB, 24
BACKUP_GID = 34
AS_BACKUP_MEMBER = ["setpriv", "--reuid=65534", "--regid=65534", f"--groups={BACKUP_GID}"]
TEMPLATE = {"vms": 2, "cts": 2, "days": 3, "change_rate": 0.3, "seed": 7, "garbage": 2,
            "missing": 1, "bad": 1, "disk_chunks": 6, "pxar_chunks": 4}
#: What a group reports about itself: an untouched group's values must not move.
OWN_FIELDS = ("snapshots", "index_files", "logical_bytes", "last_logical_bytes",
              "referenced_bytes", "last_new_bytes", "missing_chunks", "bad_chunks",
              "last_verify_state", "comment", "owner", "first_backup_time", "last_backup_time")
GroupKey = tuple[str, str, str]


@dataclass
class Fault:
    """What one mutation did and what the report must then show.

    expect: ``error`` (an error names *path*), ``error_or_changed`` (that, or *group*'s
    numbers differ), ``missing`` (the missing count of every group in *touched* rises),
    ``none`` (nothing to report), ``any`` (no expectation: vanishing files)."""

    kind: str
    path: str
    expect: str
    touched: set[GroupKey] = field(default_factory=set)


@dataclass
class Template:
    """The clean datastore every case copies, and what is known about it."""

    root: str
    baseline: dict[str, Any]
    groups: dict[GroupKey, str]  # group -> its directory
    dirs_of: dict[GroupKey, set[str]]  # group -> chunk dirs (4 hex) it references
    chunks_of: dict[str, set[GroupKey]]  # chunk file name -> groups referencing it
    as_backup: bool
    code: str | None = None  # another checkout's pbs_agent to run (e.g. before a fix)


@dataclass
class CaseResult:
    kind: str
    seconds: float
    maxrss: int
    crash: bool = False
    hang: bool = False
    memory: bool = False
    moved: list[str] = field(default_factory=list)
    unreported: bool = False
    detail: str = ""
    mutation: str = ""  # the MUTATIONS entry that made the fault
    harness_error: bool = False  # the mutation itself failed: not the agent's fault

    @property
    def failed(self) -> bool:
        return (self.harness_error or self.crash or self.hang or self.memory
                or bool(self.moved) or self.unreported)


# --------------------------------------------------------------------------- template


def make_template(base: str, code: str | None = None) -> Template:
    """Build the clean datastore under *base* and its baseline report."""
    root = os.path.join(base, "template", "ds")
    build_demo(root, **TEMPLATE)  # type: ignore[arg-type]
    as_backup = os.geteuid() == 0 and shutil.which("setpriv") is not None
    if as_backup:
        subprocess.run(["chown", "-R", f"{BACKUP_GID}:{BACKUP_GID}", root], check=True)
        subprocess.run(["chmod", "-R", "g+rX", root], check=True)
        for d in (base, os.path.dirname(root)):
            os.chmod(d, 0o755)
    groups: dict[GroupKey, str] = {}
    dirs_of: dict[GroupKey, set[str]] = {}
    chunks_of: dict[str, set[GroupKey]] = {}
    for key, gdir in _groups(root):
        groups[key] = gdir
        dirs_of[key] = set()
        for idx in sorted(Path(gdir).glob("*Z/*.?idx")):
            for digest in f.parse_index(idx.read_bytes(), str(idx)).digest_list():
                dirs_of[key].add(digest.hex()[:4])
                chunks_of.setdefault(digest.hex(), set()).add(key)
    tpl = Template(root, {}, groups, dirs_of, chunks_of, as_backup, code)
    clean = run_case_report(tpl, root)
    if clean.returncode != 0 or clean.report is None:
        raise RuntimeError(f"the clean template does not report: {clean.stderr[-500:]}")
    tpl.baseline = clean.report
    return tpl


def _groups(root: str, ns: str = "") -> Iterator[tuple[GroupKey, str]]:
    for btype in ("vm", "ct", "host"):
        tdir = os.path.join(root, btype)
        if os.path.isdir(tdir):
            for bid in sorted(os.listdir(tdir)):
                yield (ns, btype, bid), os.path.join(tdir, bid)
    nsdir = os.path.join(root, "ns")
    if os.path.isdir(nsdir):
        for child in sorted(os.listdir(nsdir)):
            yield from _groups(os.path.join(nsdir, child), f"{ns}/{child}" if ns else child)


# --------------------------------------------------------------------------- running


@dataclass
class ReportRun:
    returncode: int
    stdout: str
    stderr: str
    maxrss: int
    seconds: float
    timed_out: bool

    @property
    def report(self) -> dict[str, Any] | None:
        try:
            rep = json.loads(self.stdout)
        except ValueError:
            return None
        return rep if isinstance(rep, dict) else None


def run_case_report(tpl: Template, root: str,
                    during: Callable[[], None] | None = None) -> ReportRun:
    """The real report on *root* (no state), as the backup member when root; *during* runs
    in a thread right after the start (files vanishing mid-scan)."""
    argv = [sys.executable, "-m", "pbs_agent", "report", "--json", root,
            "--state-dir", "/proc/self/no-state"]
    if tpl.as_backup:
        argv = [*AS_BACKUP_MEMBER, *argv]
    helper = threading.Thread(target=during) if during is not None else None
    if helper is not None:
        helper.start()
    # `python -m` puts the working directory first on sys.path: run from the code to test
    run = measure.run(argv, timeout=HANG_S, cwd=tpl.code or REPO)
    if helper is not None:
        helper.join()
    return ReportRun(run.returncode, run.stdout, run.stderr, run.maxrss, run.seconds,
                     run.timed_out)


def copy_template(tpl: Template, dest: str) -> None:
    subprocess.run(["cp", "-a", tpl.root, dest], check=True)


# --------------------------------------------------------------------------- mutations

Mutation = Callable[["Case"], Fault]


@dataclass
class Case:
    """A fresh copy of the template and the random source of one case."""

    tpl: Template
    root: str
    rng: random.Random
    during: Callable[[], None] | None = None

    def rel(self, path: str) -> str:
        return os.path.join(self.root, os.path.relpath(path, self.tpl.root))

    def group_of(self, path: str) -> GroupKey:
        for key, gdir in self.tpl.groups.items():
            if path.startswith(self.rel(gdir) + os.sep) or path == self.rel(gdir):
                return key
        raise ValueError(path)

    def pick(self, pattern: str) -> str:
        found = sorted(str(p) for p in Path(self.root).glob(pattern))
        return self.rng.choice(found)

    def index(self) -> str:
        return self.pick(self.rng.choice(["**/*Z/*.fidx", "**/*Z/*.didx"]))

    def manifest(self) -> str:
        return self.pick("**/*Z/index.json.blob")

    def chunk_dir(self) -> str:
        return self.pick(".chunks/*")

    def groups_using_dir(self, cdir: str) -> set[GroupKey]:
        name = os.path.basename(cdir)
        return {k for k, dirs in self.tpl.dirs_of.items() if name in dirs}


def _replace_with(path: str, kind: str) -> None:
    """Replace *path* (file or directory) with a FIFO, socket, symlink loop, symlink to a
    device or a regular file."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(path)
    elif kind == "symlink-loop":
        os.symlink(os.path.basename(path), path)
    elif kind == "symlink-device":
        os.symlink("/dev/zero", path)
    else:
        Path(path).write_bytes(b"not what it should be\n")


def _file_fault(case: Case, path: str, kind: str, expect: str = "error") -> Fault:
    return Fault(kind, path, expect, {case.group_of(path)})


def m_truncate_index(case: Case) -> Fault:
    path = case.index()
    size = os.path.getsize(path)
    esize = 32 if path.endswith(".fidx") else 40
    while True:  # not on an entry boundary: a shorter dynamic index would still be valid
        n = case.rng.randrange(0, size)
        if n < f.INDEX_HEADER_SIZE or (n - f.INDEX_HEADER_SIZE) % esize or esize == 32:
            break
    os.truncate(path, n)
    expect = "error" if n != size else "none"
    return _file_fault(case, path, "truncate-index", expect)


def m_truncate_manifest(case: Case) -> Fault:
    path = case.manifest()
    os.truncate(path, case.rng.randrange(0, os.path.getsize(path)))
    return _file_fault(case, path, "truncate-manifest")


def _flip(path: str, rng: random.Random, lo: int = 0, hi: int | None = None) -> int:
    data = bytearray(Path(path).read_bytes())
    pos = rng.randrange(lo, hi if hi is not None else len(data))
    data[pos] ^= 1 << rng.randrange(8)
    Path(path).write_bytes(bytes(data))
    return pos


def m_bitflip_index(case: Case) -> Fault:
    path = case.index()
    pos = _flip(path, case.rng)
    if 8 <= pos < 32 or (80 if path.endswith(".fidx") else 64) <= pos < f.INDEX_HEADER_SIZE:
        # uuid, ctime and padding are never read: a flip there changes nothing
        return _file_fault(case, path, "bitflip-index-unread-header", "none")
    if 64 <= pos < 80:  # a fixed index's size or chunk size: refused, or another size
        return _file_fault(case, path, "bitflip-index-size", "error_or_changed")
    # magic, checksum or entries: the header's checksum no longer matches
    return _file_fault(case, path, "bitflip-index", "error")


def m_bitflip_manifest(case: Case) -> Fault:
    path = case.manifest()
    _flip(path, case.rng)
    return _file_fault(case, path, "bitflip-manifest")


def m_wrong_magic(case: Case) -> Fault:
    path = case.rng.choice([case.index(), case.manifest()])
    with open(path, "r+b") as fh:
        fh.write(case.rng.randbytes(8))
    return _file_fault(case, path, "wrong-magic")


def m_absurd_header(case: Case) -> Fault:
    path = case.pick("**/*Z/*.fidx")
    field_ = case.rng.choice(["size", "chunk_size"])
    value = case.rng.choice([(1 << 64) - 1, (1 << 63) + 1, 3, 4096, 1 << 40])
    with open(path, "r+b") as fh:
        fh.seek(64 if field_ == "size" else 72)
        fh.write(struct.pack("<Q", value))
    return _file_fault(case, path, f"absurd-fidx-{field_}")


def m_absurd_didx_end(case: Case) -> Fault:
    path = case.pick("**/*Z/*.didx")
    n = (os.path.getsize(path) - f.INDEX_HEADER_SIZE) // 40
    with open(path, "r+b") as fh:
        fh.seek(f.INDEX_HEADER_SIZE + 40 * case.rng.randrange(n))
        fh.write(struct.pack("<Q", case.rng.choice([(1 << 64) - 1, 0])))
    return _file_fault(case, path, "absurd-didx-end")


def m_special_file(case: Case) -> Fault:
    kind = case.rng.choice(["fifo", "socket", "symlink-loop", "symlink-device"])
    target = case.rng.choice(["index", "manifest", "owner"])
    path = case.index() if target == "index" else case.manifest() if target == "manifest" \
        else case.pick("**/owner")
    _replace_with(path, kind)
    return _file_fault(case, path, f"{kind}-as-{target}")


def m_special_dir(case: Case) -> Fault:
    kind = case.rng.choice(["fifo", "socket", "symlink-loop", "symlink-device", "file"])
    target = case.rng.choice(["snapshot", "chunk-dir"])
    if target == "snapshot":
        path = case.pick("**/*Z")
        _replace_with(path, kind)
        return _file_fault(case, path, f"{kind}-as-snapshot")
    path = case.chunk_dir()
    touched = case.groups_using_dir(path)
    _replace_with(path, kind)
    return Fault(f"{kind}-as-chunk-dir", path, "error", touched)


def m_permission(case: Case) -> Fault:
    target = case.rng.choice(["index", "manifest", "owner", "snapshot", "group", "chunk-dir"])
    if target == "chunk-dir":
        path = case.chunk_dir()
        touched = case.groups_using_dir(path)
    else:
        pickers: dict[str, Callable[[], str]] = {
                "index": case.index, "manifest": case.manifest,
                "owner": lambda: case.pick("**/owner"), "snapshot": lambda: case.pick("**/*Z"),
                "group": lambda: case.rng.choice([case.rel(g)
                                                  for g in case.tpl.groups.values()]),
                }
        path = pickers[target]()
        touched = {case.group_of(path)}
    os.chmod(path, 0)
    expect = "error" if case.tpl.as_backup or os.geteuid() != 0 else "none"
    return Fault(f"chmod-000-{target}", path, expect, touched)


def m_undecodable_name(case: Case) -> Fault:
    path = case.index()
    snap = os.path.dirname(path)
    odd = bytes(case.rng.randrange(0x80, 0x100) for _ in range(2))  # never "/" or NUL
    new = os.fsdecode(os.path.join(os.fsencode(snap),
                                   b"\xff" + odd + b".img.fidx"
                                   if path.endswith(".fidx") else b"\xfe\xff.pxar.didx"))
    if case.rng.random() < 0.5:
        os.rename(path, new)  # a valid index with an undecodable name: nothing to report
        return Fault("undecodable-name", new, "none", set())
    Path(new).write_bytes(b"\xff" * case.rng.randrange(0, 5000))
    return Fault("undecodable-name-corrupt", new, "error", {case.group_of(path)})


def m_vanish(case: Case) -> Fault:
    target = case.rng.choice(["index", "manifest", "snapshot", "chunk-dir", "owner"])
    pickers: dict[str, Callable[[], str]] = {
        "index": case.index, "manifest": case.manifest,
        "snapshot": lambda: case.pick("**/*Z"), "chunk-dir": case.chunk_dir,
        "owner": lambda: case.pick("**/owner")}
    path = pickers[target]()
    touched = case.groups_using_dir(path) if target == "chunk-dir" else {case.group_of(path)}
    delay = case.rng.uniform(0, 0.4)

    def vanish() -> None:
        time.sleep(delay)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)

    case.during = vanish
    return Fault(f"vanish-{target}", path, "any", touched)


def _bomb(size: int) -> bytes:
    cobj = zstandard.ZstdCompressor(level=3).compressobj()
    body = b"".join(cobj.compress(bytes(MIB)) for _ in range(size // MIB)) + cobj.flush()
    return f.COMPRESSED_BLOB_MAGIC + struct.pack("<I", zlib.crc32(body)) + body


_BOMBS: dict[int, bytes] = {}


def m_bomb(case: Case) -> Fault:
    path = case.manifest()
    size = case.rng.choice([64 * MIB, 1024 * MIB])
    if size not in _BOMBS:
        _BOMBS[size] = _bomb(size)
    Path(path).write_bytes(_BOMBS[size])
    return _file_fault(case, path, "zstd-bomb-manifest")


def m_sparse(case: Case) -> Fault:
    target = case.rng.choice(["fidx", "didx", "manifest"])
    if target == "manifest":
        path = case.manifest()
        with open(path, "wb") as fh:
            fh.truncate(case.rng.choice([4096, f.MAX_BLOB_FILE, f.MAX_BLOB_FILE + 1]))
        return _file_fault(case, path, "sparse-manifest")
    path = case.pick(f"**/*Z/*.{target}")
    head = Path(path).read_bytes()[: f.INDEX_HEADER_SIZE]
    entries = case.rng.choice([1 << 16, 1 << 22, 1 << 26])
    if target == "fidx":
        head = head[:64] + struct.pack("<QQ", entries * 4 * MIB, 4 * MIB) + head[80:]
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(f.INDEX_HEADER_SIZE + entries * (32 if target == "fidx" else 40))
    return _file_fault(case, path, f"sparse-{target}")


def m_lose_chunk(case: Case) -> Fault:
    names = sorted(n for n in case.tpl.chunks_of
                   if os.path.exists(os.path.join(case.root, ".chunks", n[:4], n)))
    name = case.rng.choice(names)
    path = os.path.join(case.root, ".chunks", name[:4], name)
    kind = case.rng.choice(["delete", "fifo", "directory", "symlink-loop"])
    os.unlink(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        os.mkdir(path)
    elif kind == "symlink-loop":
        os.symlink(name, path)
    return Fault(f"chunk-{kind}", path, "missing", set(case.tpl.chunks_of[name]))


def m_stray_chunk(case: Case) -> Fault:
    """A chunk file in the wrong directory (an error), or odd names (ignored)."""
    cdir = case.chunk_dir()
    if case.rng.random() < 0.5:
        wrong = "ffff" if os.path.basename(cdir) != "ffff" else "0000"
        name = wrong + case.rng.randbytes(30).hex()
        Path(cdir, name).write_bytes(b"x")
        return Fault("chunk-in-wrong-dir", os.path.join(cdir, name), "error", set())
    odd = case.rng.choice(["x" * 64, "A" * 64, "0" * 64 + ".tmp_abc", "\udcff" * 3])
    Path(cdir, odd).write_bytes(b"x")
    return Fault("odd-name-in-chunk-dir", os.path.join(cdir, odd), "none", set())


MUTATIONS: dict[str, Mutation] = {
    "truncate-index": m_truncate_index, "truncate-manifest": m_truncate_manifest,
    "bitflip-index": m_bitflip_index, "bitflip-manifest": m_bitflip_manifest,
    "wrong-magic": m_wrong_magic, "absurd-fidx-header": m_absurd_header,
    "absurd-didx-end": m_absurd_didx_end, "special-file": m_special_file,
    "special-dir": m_special_dir, "permission": m_permission,
    "undecodable-name": m_undecodable_name, "vanish": m_vanish, "bomb": m_bomb,
    "sparse": m_sparse, "lose-chunk": m_lose_chunk, "stray-chunk": m_stray_chunk,
}


# --------------------------------------------------------------------------- evaluation


def _by_key(rep: dict[str, Any]) -> dict[GroupKey, dict[str, Any]]:
    return {(g["namespace"], g["backup_type"], g["backup_id"]): g for g in rep["groups"]}


def evaluate(tpl: Template, fault: Fault, run: ReportRun) -> CaseResult:
    res = CaseResult(fault.kind, round(run.seconds, 3), run.maxrss)
    rep = run.report
    if run.timed_out:
        res.hang, res.detail = True, f"still running after {HANG_S:.0f} s"
        return res
    if run.returncode != 0 or rep is None or "Traceback" in run.stderr:
        res.crash, res.detail = True, (run.stderr.strip().splitlines() or ["no output"])[-1]
        return res
    referenced = rep["datastore"].get("chunks_referenced", 0)
    res.memory = run.maxrss > RSS_BASE + RSS_PER_CHUNK * referenced
    base, now = _by_key(tpl.baseline), _by_key(rep)
    for key, before in base.items():
        if key in fault.touched:
            continue
        after = now.get(key)
        if after is None or any(after[k] != before[k] for k in OWN_FIELDS):
            res.moved.append("/".join(key))
    errors = {e["path"] for e in rep["errors"]}
    extra = errors - {e["path"] for e in tpl.baseline["errors"]}
    shown = printable(fault.path)
    if fault.expect == "error":
        res.unreported = shown not in errors
    elif fault.expect == "error_or_changed":
        (group,) = fault.touched
        changed = any(now.get(group, {}).get(k) != base[group][k] for k in OWN_FIELDS)
        res.unreported = shown not in errors and not changed
    elif fault.expect == "missing":
        res.unreported = any(now[g]["missing_chunks"] <= base[g]["missing_chunks"]
                             for g in fault.touched)
    elif fault.expect == "none":
        res.unreported = bool(extra)  # nothing to report: no error may appear either
        if extra:
            res.detail = f"unexpected errors: {sorted(extra)[:2]}"
    if res.unreported and not res.detail:
        res.detail = f"{fault.expect} expected for {shown}; errors: {sorted(extra)[:3]}"
    return res


def run_cases(tpl: Template, work: str, kinds: list[str], seed: int) -> Iterator[CaseResult]:
    """One case per entry of *kinds*, each on a fresh copy under *work*."""
    for n, kind in enumerate(kinds):
        rng = random.Random(f"{seed}-{n}")
        dest = os.path.join(work, f"case-{n}")
        copy_template(tpl, dest)
        case = Case(tpl, dest, rng)
        try:
            try:
                fault = MUTATIONS[kind](case)
            except Exception as exc:  # the harness's own bug: say so, go on
                yield CaseResult(kind, 0.0, 0, mutation=kind, harness_error=True,
                                 detail=f"mutation failed: {exc!r}")
                continue
            result = evaluate(tpl, fault, run_case_report(tpl, dest, case.during))
            result.mutation = kind
            yield result
        finally:
            subprocess.run(["chmod", "-R", "u+rwX", dest], stderr=subprocess.DEVNULL)
            shutil.rmtree(dest, ignore_errors=True)


def schedule(n: int, seed: int) -> list[str]:
    """*n* mutation kinds: every kind once, then random ones."""
    rng = random.Random(seed)
    names = sorted(MUTATIONS)
    return (names + [rng.choice(names) for _ in range(max(0, n - len(names)))])[:max(n, 0)]


@dataclass
class Summary:
    cases: int = 0
    crashes: int = 0
    hangs: int = 0
    over_memory: int = 0
    moved: int = 0
    unreported: int = 0
    harness_errors: int = 0
    peak_rss: int = 0
    seconds: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)
    mutations: set[str] = field(default_factory=set)
    peak_by_mutation: dict[str, int] = field(default_factory=dict)  # bytes
    failures: list[dict[str, Any]] = field(default_factory=list)

    def add(self, r: CaseResult) -> None:
        self.cases += 1
        self.crashes += r.crash
        self.hangs += r.hang
        self.over_memory += r.memory
        self.moved += bool(r.moved)
        self.unreported += r.unreported
        self.harness_errors += r.harness_error
        self.peak_rss = max(self.peak_rss, r.maxrss)
        self.by_kind[r.kind] = self.by_kind.get(r.kind, 0) + 1
        if not r.harness_error:
            self.mutations.add(r.mutation)
        self.peak_by_mutation[r.mutation] = max(self.peak_by_mutation.get(r.mutation, 0),
                                                r.maxrss)
        if r.failed and len(self.failures) < 50:
            self.failures.append({"kind": r.kind, "harness_error": r.harness_error,
                                  "crash": r.crash, "hang": r.hang,
                                  "memory": r.memory, "moved": r.moved,
                                  "unreported": r.unreported, "detail": r.detail})


def fuzz(cases: int, seed: int, budget_s: float | None = None,
         work: str | None = None, code: str | None = None) -> Summary:
    """Run *cases* cases (stopping early after *budget_s* seconds, once every kind ran);
    *code*: a directory holding another ``pbs_agent`` to run instead of this one."""
    base = tempfile.mkdtemp(prefix="pbs-fleet-fuzz-", dir=work)
    os.chmod(base, 0o755)
    started = time.monotonic()
    summary = Summary()
    try:
        tpl = make_template(base, code)
        for r in run_cases(tpl, base, schedule(cases, seed), seed):
            summary.add(r)
            if budget_s is not None and summary.cases >= len(MUTATIONS) \
                    and time.monotonic() - started > budget_s:
                break
    finally:
        subprocess.run(["chmod", "-R", "u+rwX", base], stderr=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    summary.seconds = round(time.monotonic() - started, 1)
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", help="where the copies go (default: the temp dir)")
    ap.add_argument("--code", help="a directory holding another pbs_agent to run")
    args = ap.parse_args(argv)
    s = fuzz(args.cases, args.seed, work=args.work, code=args.code)
    print(json.dumps(s.__dict__ | {"mutations": sorted(s.mutations)}, indent=1))
    return 0 if not s.failures else 1


if __name__ == "__main__":
    sys.exit(main())
