"""Writer of PBS task-log trees for tests and benchmarks (``<log-dir>/tasks/``).

Writes what proxmox-backup-proxy writes (pbs-internals §5): per-task logs
``tasks/<XX>/<UPID>`` with ``<RFC3339 local time>: message`` lines ending in ``TASK ...``,
finished tasks in ``archive`` (``<UPID> <ENDTIME %08X> <STATUS>``), older ones rotated into
``archive.1`` and ``archive.N.zst``, running ones in ``active``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import zstandard

TZ = timezone(timedelta(hours=2))
_SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")


def systemd_escape(text: str) -> str:
    r"""systemd unit escaping as PBS uses it for worker ids: ``/`` → ``-``, else ``\xNN``."""
    out = []
    for i, b in enumerate(text.encode()):
        if b == ord("/"):
            out.append("-")
        elif b in _SAFE and not (i == 0 and b == ord(".")):
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def make_upid(starttime: int, wtype: str, wid: str, *, node: str = "pbs1", pid: int = 1234,
              pstart: int = 0x1E240, task_id: int = 0, auth: str = "root@pam") -> str:
    return (f"UPID:{node}:{pid:08X}:{pstart:08X}:{task_id:08X}:{starttime:08X}:{wtype}:"
            f"{systemd_escape(wid)}:{auth}:")


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, TZ).isoformat()


@dataclass
class Archive:
    """One archive of a backup: what the server logs in 'Upload statistics'."""

    name: str
    size: int
    chunks: int
    uploaded_chunks: int
    upload_size: int
    server_dups: int = 0


def backup_lines(store: str, ns: str, btype: str, bid: str, backup_time: str,
                 archives: list[Archive], *, fail: str | None = None) -> list[str]:
    """The message lines of a backup task (server side)."""
    rel = "".join(f"ns/{p}/" for p in ns.split("/") if p) + f"{btype}/{bid}/{backup_time}"
    lines = [f"starting new backup on datastore '{store}' from ::ffff:10.0.0.5: \"{rel}\"",
             "download 'index.json.blob' from previous backup."]
    for wid, a in enumerate(archives, 1):
        kind = "fixed" if a.name.endswith(".fidx") else "dynamic"
        lines += [f"created new {kind} index {wid} (\"{rel}/{a.name}\")",
                  f"Upload statistics for '{a.name}'",
                  "UUID: 5f0c7e6b0d6a4a8d9e1f2a3b4c5d6e7f",
                  "Checksum: " + "ab" * 32,
                  f"Size: {a.size}",
                  f"Chunk count: {a.chunks}"]
        if a.size and a.chunks:
            lines.append(f"Upload size: {a.upload_size} ({a.upload_size * 100 // a.size}%)")
        client = max(a.chunks - a.uploaded_chunks, 0)
        if client + a.server_dups:
            lines.append(f"Duplicates: {client}+{a.server_dups} "
                         f"({(client + a.server_dups) * 100 // a.chunks}%)")
        if a.upload_size:
            lines.append("Compression: 47%")
        lines.append(f"successfully closed {kind} index {wid}")
    lines.append(f"add blob \"{rel}/index.json.blob\" (412 bytes, comp: 412)")
    if fail:
        lines += [f"backup failed: {fail}", "removing failed backup"]
    else:
        lines += ["successfully finished backup", "backup finished successfully"]
    return lines


def gc_lines(removed: str, pending: str | None, dedup: str) -> list[str]:
    lines = ["starting garbage collection on store store1",
             "Start GC phase1 (mark used chunks)", "marked 100% (12 of 12 index files)",
             "Start GC phase2 (sweep unused chunks)", "processed 100% (4032 chunks)",
             f"Removed garbage: {removed}", "Removed chunks: 17"]
    if pending:
        lines.append(f"Pending removals: {pending} (in 3 chunks)")
    return [*lines, "Original data usage: 51.257 GiB", "On-Disk usage: 2.04 GiB (3.98%)",
            "On-Disk chunks: 4015", f"Deduplication factor: {dedup}",
            "Average chunk size: 533.093 KiB"]


@dataclass
class Task:
    upid: str
    start: int
    end: int | None  # None = running
    status: str = "OK"
    messages: list[str] = field(default_factory=list)
    result: str | None = None  # last line; default from status


class TaskTree:
    """Collects tasks and writes them as a PBS ``tasks/`` directory."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []

    def add(self, task: Task) -> Task:
        self.tasks.append(task)
        return task

    def write_log(self, tasks_dir: Path, task: Task) -> None:
        pstart = int(task.upid.split(":")[3], 16)
        d = tasks_dir / f"{pstart & 255:02X}"
        d.mkdir(parents=True, exist_ok=True)
        step = max((task.end or task.start) - task.start, 1) / max(len(task.messages), 1)
        lines = [f"{stamp(task.start + i * step)}: {m}" for i, m in enumerate(task.messages)]
        if task.end is not None:
            result = task.result or ("TASK OK" if task.status == "OK"
                                     else f"TASK {task.status}" if task.status.startswith("WARN")
                                     else f"TASK ERROR: {task.status}")
            lines.append(f"{stamp(task.end)}: {result}")
        (d / task.upid).write_text("\n".join(lines) + "\n")

    @staticmethod
    def archive_line(task: Task) -> str:
        return f"{task.upid} {task.end:08X} {task.status}\n"

    def write(self, log_dir: Path, rotated: int = 0, compressed: int = 0) -> Path:
        """Write logs, archives and ``active``; the oldest finished tasks go to rotated files:
        *compressed* lines into ``archive.2.zst``, the next *rotated* into ``archive.1``."""
        tasks_dir = log_dir / "tasks"
        tasks_dir.mkdir(parents=True, exist_ok=True)
        for task in self.tasks:
            self.write_log(tasks_dir, task)
        done = sorted((t for t in self.tasks if t.end is not None), key=lambda t: t.end or 0)
        lines = [self.archive_line(t) for t in done]
        zst, one, rest = (lines[:compressed], lines[compressed:compressed + rotated],
                          lines[compressed + rotated:])
        if zst:
            data = "".join(zst).encode()
            (tasks_dir / "archive.2.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
        if one:
            (tasks_dir / "archive.1").write_text("".join(one))
        (tasks_dir / "archive").write_text("".join(rest))
        running = [t.upid + "\n" for t in self.tasks if t.end is None]
        (tasks_dir / "active").write_text("".join(running))
        return tasks_dir


def rotate(tasks_dir: Path) -> None:
    """What PBS's logrotate does: archive.1 → archive.2.zst (older .zst shift up),
    archive → archive.1, new empty archive."""
    zsts = sorted((p for p in tasks_dir.glob("archive.*.zst")),
                  key=lambda p: -int(p.name.split(".")[1]))
    for p in zsts:
        n = int(p.name.split(".")[1])
        os.replace(p, tasks_dir / f"archive.{n + 1}.zst")
    one = tasks_dir / "archive.1"
    if one.exists():
        data = zstandard.ZstdCompressor().compress(one.read_bytes())
        (tasks_dir / "archive.2.zst").write_bytes(data)
        one.unlink()
    os.replace(tasks_dir / "archive", one)
    (tasks_dir / "archive").write_text("")
