"""`pbs-agent report` on hostile datastores (issue 12): no crash, no hang, bounded memory, every
fault reported by path and the rest of the report unchanged. Each case runs the real command
in a child process (a hang would otherwise hang the suite) and measures its peak RSS."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import struct
import time
from pathlib import Path

import pytest
import zstandard

from pbs_agent import formats as f
from pbs_agent.errors import FormatError

from .conftest import assert_matches_reference, run_report

MIB = 1 << 20


def _newest(root: str, group: str) -> str:
    return sorted(glob.glob(os.path.join(root, group, "*Z")))[-1]


def _errors(run) -> dict[str, str]:
    return {e["path"]: e["reason"] for e in run.report["errors"]}


def test_fifo_socket_symlink_loop_never_block(small_demo: str) -> None:
    """A FIFO as `owner` or as `index.json.blob` blocked `report` forever (open without a
    regular-file check)."""
    fifo_owner = os.path.join(small_demo, "vm", "100", "owner")
    os.unlink(fifo_owner)
    os.mkfifo(fifo_owner)
    fifo_manifest = os.path.join(_newest(small_demo, "ct/100"), "index.json.blob")
    os.unlink(fifo_manifest)
    os.mkfifo(fifo_manifest)
    sock_owner = os.path.join(small_demo, "ns", "prod", "vm", "101", "owner")
    os.unlink(sock_owner)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(sock_owner)
    loop_owner = os.path.join(small_demo, "ns", "prod", "ns", "web", "ct", "101", "owner")
    os.unlink(loop_owner)
    os.symlink("owner", loop_owner)
    run = run_report(small_demo, timeout=30)
    assert run.returncode == 0, run.stderr
    assert _errors(run) == {
        fifo_owner: "not a regular file (FIFO): skipped",
        fifo_manifest: "not a regular file (FIFO): skipped",
        sock_owner: "not a regular file (socket): skipped",
        loop_owner: "not a regular file (symlink): skipped",
    }
    assert_matches_reference(run.report, small_demo)


def test_undecodable_names_are_escaped_never_crash(small_demo: str) -> None:
    """An index whose name is not UTF-8 killed `report` (UnicodeEncodeError in the group
    signature); now it counts like any index, and a broken one is listed escaped."""
    snap = _newest(small_demo, "vm/100")
    good = os.path.join(snap, "drive-scsi0.img.fidx")
    shutil.copyfile(good, os.fsdecode(os.path.join(os.fsencode(snap), b"drive-\xff.img.fidx")))
    ct = _newest(small_demo, "ns/prod/ns/web/ct/101")
    bad = os.path.join(os.fsencode(ct), b"\xfe\xff.pxar.didx")
    with open(bad, "wb") as fh:
        fh.write(b"not an index")
    for state in (None, "st"):
        run = run_report(small_demo, state_dir=state)
        assert run.returncode == 0, run.stderr
        assert _errors(run) == {
            os.path.join(ct, "\\xfe\\xff.pxar.didx"):
                "wrong magic 6e6f7420616e2069: not a fixed or dynamic index"}
        assert_matches_reference(run.report, small_demo)
    human = run_report(small_demo, json_output=False, env={"LC_ALL": "C.UTF-8",
                                                           "PYTHONIOENCODING": "utf-8"})
    assert human.returncode == 0, human.stderr
    assert "\\xfe\\xff.pxar.didx: wrong magic" in human.stdout


def _bomb(payload: int) -> bytes:
    cobj = zstandard.ZstdCompressor(level=3).compressobj()
    body = b"".join(cobj.compress(bytes(MIB)) for _ in range(payload // MIB)) + cobj.flush()
    return f.COMPRESSED_BLOB_MAGIC + struct.pack("<I", f.zlib.crc32(body)) + body


def test_zstd_bomb_manifest_in_bounded_memory(small_demo: str) -> None:
    """A 100 KB zstd bomb as `index.json.blob` drove the process to 3.1 GB RSS."""
    manifest = os.path.join(_newest(small_demo, "vm/100"), "index.json.blob")
    with open(manifest, "wb") as fh:
        fh.write(_bomb(2048 * MIB))
    run = run_report(small_demo)
    assert run.returncode == 0, run.stderr
    assert _errors(run) == {manifest: "decompressed blob exceeds 16 MiB"}
    assert run.maxrss < 128 * MIB, run.maxrss


def test_sparse_index_refused_fast_in_bounded_memory(small_demo: str) -> None:
    """A 2 GiB sparse `.didx` with a valid header cost 4.1 GB RSS and was accepted."""
    path = os.path.join(_newest(small_demo, "ct/100"), "big.pxar.didx")
    head = struct.pack("<8s16sq32s", f.DYNAMIC_INDEX_MAGIC, bytes(16), 0, bytes(32))
    with open(path, "wb") as fh:
        fh.write(head.ljust(f.INDEX_HEADER_SIZE, b"\0"))
        fh.truncate(f.INDEX_HEADER_SIZE + (2 << 30) // 40 * 40)
    run = run_report(small_demo, timeout=60)
    assert run.returncode == 0, run.stderr
    assert _errors(run) == {path: "hole at byte 4096: index files are never sparse "
                                  "(PBS writes every entry)"}
    assert run.maxrss < 128 * MIB and run.seconds < 20, (run.maxrss, run.seconds)
    os.unlink(path)  # the rest of the report is what it is without the file
    clean = run_report(small_demo).report
    assert run.report["datastore"] == clean["datastore"]
    assert run.report["groups"] == clean["groups"]


def test_absurd_fixed_header_refused(small_demo: str) -> None:
    """Declared size and chunk size 2**64-1 were accepted: a dedup factor of 5.9e11."""
    before = run_report(small_demo).report["datastore"]
    path = os.path.join(_newest(small_demo, "ns/prod/vm/101"), "drive-scsi1.img.fidx")
    with open(path, "wb") as fh:
        fh.write(f.encode_fidx([bytes(32)], size=(1 << 64) - 1, chunk_size=(1 << 64) - 1))
    run = run_report(small_demo)
    assert run.returncode == 0, run.stderr
    assert _errors(run) == {path: "chunk size 18446744073709551615 is not one PBS writes "
                                  "(a power of two from 64 KiB to 4 MiB)"}
    after = run.report["datastore"]
    assert after["dedup_factor"] == before["dedup_factor"]
    assert after["logical_bytes"] == before["logical_bytes"]


def test_chunk_dir_that_is_not_a_directory_is_an_error(small_demo: str) -> None:
    """A chunk directory replaced by a regular file was skipped without a word."""
    cdir = sorted(glob.glob(os.path.join(small_demo, ".chunks", "*")))[0]
    lost = len(os.listdir(cdir))
    shutil.rmtree(cdir)
    Path(cdir).write_bytes(b"")
    for state in (None, "st", "st"):  # fresh, cold with a state, warm
        run = run_report(small_demo, state_dir=state)
        assert run.returncode == 0, run.stderr
        assert _errors(run) == {cdir: "not a directory (regular file): chunks in it "
                                      "cannot be counted"}
        assert run.report["datastore"]["missing_chunks"] >= lost - 1


def test_report_json_is_valid_utf8_json(small_demo: str) -> None:
    """Owner and notes are shown as text: a lone surrogate in a manifest's notes (valid
    JSON: ``"\\ud800"``) must not break the JSON or the metrics."""
    manifest = os.path.join(_newest(small_demo, "vm/100"), "index.json.blob")
    m = json.loads(f.decode_blob(Path(manifest).read_bytes()))
    m["unprotected"]["notes"] = "bad \ud800 note\nsecond line"
    with open(manifest, "wb") as fh:
        fh.write(f.encode_blob(json.dumps(m).encode()))
    run = run_report(small_demo)
    assert run.returncode == 0, run.stderr
    run.stdout.encode("utf-8")
    group = next(g for g in run.report["groups"] if g["backup_id"] == "100"
                 and g["backup_type"] == "vm")
    assert group["comment"] == "bad \\ud800 note"


BACKUP_GID = 34  # Debian's fixed "backup" group, the one PBS datastores belong to
AS_BACKUP_MEMBER = ["setpriv", "--reuid=65534", "--regid=65534", f"--groups={BACKUP_GID}"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to scan as another user")
def test_warm_rescan_reports_what_a_fresh_scan_reports(small_demo_template: str,
                                                      world_readable_tmp: str) -> None:
    """`chmod` changes the ctime, not the mtime: a warm rescan keyed on mtime reused the
    cached results of an index and a chunk dir made unreadable."""
    root = os.path.join(world_readable_tmp, "ds")
    shutil.copytree(small_demo_template, root)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            os.chown(os.path.join(dirpath, n), BACKUP_GID, BACKUP_GID, follow_symlinks=False)
    os.chown(root, BACKUP_GID, BACKUP_GID)
    os.chmod(os.path.join(root, ".chunks"), 0o750)
    os.makedirs(os.path.join(world_readable_tmp, "st"))
    os.chown(os.path.join(world_readable_tmp, "st"), 65534, 65534)
    t = time.time() - 60  # old mtimes: nothing counts as "changed just now"
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            os.utime(os.path.join(dirpath, n), (t, t), follow_symlinks=False)
    time.sleep(2.1)  # and old ctimes (utime sets the ctime to now)
    cold = run_report(root, state_dir="st", prefix=AS_BACKUP_MEMBER)
    assert cold.report["errors"] == []
    warm = run_report(root, state_dir="st", prefix=AS_BACKUP_MEMBER)
    assert warm.report["scan"]["result_cached"]
    index = sorted(glob.glob(os.path.join(root, "vm", "100", "*Z", "*.fidx")))[0]
    cdir = sorted(glob.glob(os.path.join(root, ".chunks", "*")))[0]
    for p in (index, cdir):
        os.chmod(p, 0)
    fresh = run_report(root, prefix=AS_BACKUP_MEMBER)
    assert _errors(fresh) == {index: "permission denied", cdir: "permission denied"}
    for _ in range(2):
        again = run_report(root, state_dir="st", prefix=AS_BACKUP_MEMBER)
        assert _errors(again) == _errors(fresh)
        assert again.report["datastore"] == fresh.report["datastore"]


def test_every_manifest_read_once_and_again_when_it_changes(small_demo: str) -> None:
    """A corrupted manifest in any snapshot but the newest was never read nor reported."""
    oldest = sorted(glob.glob(os.path.join(small_demo, "vm", "100", "*Z")))[0]
    manifest = os.path.join(oldest, "index.json.blob")
    good = Path(manifest).read_bytes()
    Path(manifest).write_bytes(good[:40])
    t = time.time() - 60
    os.utime(manifest, (t, t))
    time.sleep(2.1)  # an old mtime and ctime: the state may keep the result
    with pytest.raises(FormatError) as broken:
        f.parse_manifest(good[:40], manifest)
    want = {manifest: broken.value.reason}
    fresh = run_report(small_demo)
    assert _errors(fresh) == want
    cold = run_report(small_demo, state_dir="st")
    warm = run_report(small_demo, state_dir="st")
    assert _errors(cold) == _errors(warm) == want
    assert cold.report["scan"]["manifests_read"] == fresh.report["datastore"]["snapshots"]
    assert warm.report["scan"]["manifests_read"] == 0  # read once
    Path(manifest).write_bytes(good)  # repaired: read again, the error is gone
    repaired = run_report(small_demo, state_dir="st")
    assert _errors(repaired) == {} and repaired.report["scan"]["manifests_read"] == 1
