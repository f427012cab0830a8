"""Engine test helpers: small datastores and a plain set-based reference computation.

The reference walks with os.walk, parses with the object-per-entry readers
(`formats.parse_index`) and uses Python sets of full 32-byte digests: it shares no code with
the numpy engine beyond the byte-level parsers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from lab import measure
from pbs_agent import formats as f
from pbs_agent.demo import build_demo
from pbs_agent.errors import FormatError

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _read_index(path: str) -> f.IndexFile | None:
    try:
        with open(path, "rb") as fh:
            return f.parse_index(fh.read(), path)
    except (OSError, FormatError):
        return None


def _groups(root: str, ns: str = "") -> Iterator[tuple[str, str, str, str]]:
    for btype in ("vm", "ct", "host"):
        tdir = os.path.join(root, btype)
        if os.path.isdir(tdir):
            for bid in sorted(os.listdir(tdir)):
                yield ns, btype, bid, os.path.join(tdir, bid)
    nsdir = os.path.join(root, "ns")
    if os.path.isdir(nsdir):
        for child in sorted(os.listdir(nsdir)):
            yield from _groups(os.path.join(nsdir, child), f"{ns}/{child}" if ns else child)


def reference_report(root: str) -> dict[str, Any]:
    """The issue's definitions, computed naively with sets (for cross-checking)."""
    chunks: dict[bytes, int] = {}
    bad_files: list[bytes] = []
    cdir = os.path.join(root, ".chunks")
    for d in sorted(os.listdir(cdir)) if os.path.isdir(cdir) else []:
        if not os.path.isdir(os.path.join(cdir, d)):
            continue
        for n in os.listdir(os.path.join(cdir, d)):
            p = os.path.join(cdir, d, n)
            if re.fullmatch(r"[0-9a-f]{64}", n) and n[:4] == d:
                chunks[bytes.fromhex(n)] = os.lstat(p).st_size
            elif re.fullmatch(r"[0-9a-f]{64}\.\d\.bad", n):
                bad_files.append(bytes.fromhex(n[:64]))
    bad_set = set(bad_files)
    all_refs: set[bytes] = set()
    groups, snapshots, index_files, logical = [], 0, 0, 0
    per_group_sets: dict[tuple, set[bytes]] = {}
    for ns, btype, bid, gdir in _groups(root):
        snaps = []
        for name in sorted(os.listdir(gdir)):
            sdir = os.path.join(gdir, name)
            if not TIME_RE.match(name) or not os.path.isdir(sdir):
                continue
            files = sorted(os.listdir(sdir))
            finished = "index.json.blob" in files
            dset, dlog, nidx = set(), 0, 0
            for fn in files:
                if fn.endswith((".fidx", ".didx", ".tmp_fidx", ".tmp_didx")):
                    idx = _read_index(os.path.join(sdir, fn))
                    if idx is None:
                        continue
                    all_refs.update(idx.digest_list())
                    if finished and not fn.endswith(("tmp_fidx", "tmp_didx")):
                        dset.update(idx.digest_list())
                        dlog += idx.logical_size
                        nidx += 1
            if finished:
                snaps.append((name, dset, dlog, nidx, ".protected" in files))
        union = set().union(*(s[1] for s in snaps)) if snaps else set()
        per_group_sets[(ns, btype, bid)] = union
        snapshots += len(snaps)
        index_files += sum(s[3] for s in snaps)
        logical += sum(s[2] for s in snaps)
        new = snaps[-1][1] - (snaps[-2][1] if len(snaps) > 1 else set()) if snaps else set()
        groups.append({
            "namespace": ns, "backup_type": btype, "backup_id": bid,
            "snapshots": len(snaps), "protected_snapshots": sum(1 for s in snaps if s[4]),
            "last_logical_bytes": snaps[-1][2] if snaps else 0,
            "referenced_bytes": sum(chunks.get(d, 0) for d in union),
            "last_new_bytes": sum(chunks.get(d, 0) for d in new),
            # missing: no file at all; a chunk left only as <digest>.N.bad counts as bad
            "missing_chunks": sum(1 for d in union if d not in chunks and d not in bad_set),
            "bad_chunks": sum(1 for d in union if d in bad_set),
        })
    for g in groups:
        key = (g["namespace"], g["backup_type"], g["backup_id"])
        others = set().union(*(v for k, v in per_group_sets.items() if k != key))
        g["exclusive_bytes"] = sum(chunks.get(d, 0) for d in per_group_sets[key] - others)
    counted = set().union(*per_group_sets.values()) if per_group_sets else set()
    physical = sum(chunks[d] for d in counted if d in chunks)
    garbage = [d for d in chunks if d not in all_refs]
    return {
        "datastore": {
            "snapshots": snapshots, "index_files": index_files, "logical_bytes": logical,
            "chunks_referenced": len(counted), "physical_bytes": physical,
            "dedup_factor": round(logical / physical, 4) if physical else None,
            "chunks_on_disk": len(chunks), "garbage_chunks": len(garbage),
            "garbage_bytes": sum(chunks[d] for d in garbage),
            "missing_chunks": sum(1 for d in counted if d not in chunks and d not in bad_set),
            "bad_chunks": len(bad_files),
        },
        "groups": groups,
    }


def assert_matches_reference(report: dict[str, Any], root: str) -> None:
    ref = reference_report(root)
    got_ds = {k: report["datastore"][k] for k in ref["datastore"]}
    assert got_ds == ref["datastore"]
    got = {(g["namespace"], g["backup_type"], g["backup_id"]): g for g in report["groups"]}
    assert len(got) == len(ref["groups"])
    for g in ref["groups"]:
        mine = got[(g["namespace"], g["backup_type"], g["backup_id"])]
        assert {k: mine[k] for k in g} == g, g


def normalized(report: dict[str, Any]) -> dict[str, Any]:
    """A report without the volatile parts (scan timing, absolute path)."""
    out = {k: v for k, v in report.items() if k != "scan"}
    root = out["datastore"]["path"]
    out["datastore"] = dict(out["datastore"], path="<root>")
    out["errors"] = [{"path": e["path"].replace(root, "<root>"), "reason": e["reason"]}
                     for e in out["errors"]]
    return out


SMALL = {"vms": 2, "cts": 2, "days": 3, "change_rate": 0.3, "seed": 7,
         "garbage": 2, "missing": 1, "bad": 1, "disk_chunks": 6, "pxar_chunks": 4}


@pytest.fixture(scope="session")
def small_demo_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("demo-template") / "ds")
    build_demo(path, **SMALL)
    return path


@pytest.fixture
def small_demo(small_demo_template: str, tmp_path) -> str:
    """A fresh copy of a small demo datastore (garbage, missing and bad chunks included)."""
    path = str(tmp_path / "ds")
    shutil.copytree(small_demo_template, path, symlinks=True)
    return path


@pytest.fixture
def world_readable_tmp() -> Iterator[str]:
    """A 0755 temp dir in /tmp (pytest's tmp_path is 0700: other users cannot enter it)."""
    path = tempfile.mkdtemp(prefix="pbs-agent-test-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class ReportRun:
    """One `pbs-agent report` child: exit code, output, peak RSS (bytes, the largest of the
    process and its own children) and wall time."""

    returncode: int
    stdout: str
    stderr: str
    maxrss: int
    seconds: float

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def run_report(root: str, *, state_dir: str | None = None, json_output: bool = True,
               timeout: float = 60, env: dict[str, str] | None = None,
               prefix: Sequence[str] = ()) -> ReportRun:
    """Run the real `pbs-agent report` on *root* in a child (measured by
    :mod:`lab.measure`); *state_dir* relative to the datastore's parent (None: no state).
    Fails the test on a timeout (a hang)."""
    argv = [*prefix, sys.executable, "-m", "pbs_agent", "report", root]
    argv += ["--json"] if json_output else []
    # no state: a path that cannot be created (the scan then runs without state)
    argv += ["--state-dir", os.path.join(os.path.dirname(root), state_dir) if state_dir
             else "/proc/self/no-state"]
    run = measure.run(argv, timeout=timeout, env={**os.environ, **(env or {})})
    if run.timed_out:
        pytest.fail(f"report on {root} did not finish in {timeout} s (hang)")
    return ReportRun(run.returncode, run.stdout, run.stderr, run.maxrss, run.seconds)
