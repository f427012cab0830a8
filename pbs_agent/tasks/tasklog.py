"""PBS task logs: UPIDs, archive lines, and the summaries inside per-task log files.

Pure parsing, no I/O: every function takes text and returns data or raises
:class:`~pbs_agent.errors.FormatError` naming what was wrong.

>>> wid = "store1\\\\x3avm-100"
>>> u = parse_upid(f"UPID:pbs1:000004D2:0001E240:00000000:665FFA00:backup:{wid}:root@pam:")
>>> (u.worker_type, u.worker_id, u.starttime, u.log_subdir)
('backup', 'store1:vm/100', 1717565952, '40')
>>> parse_human_bytes("1.5 GiB")
1610612736
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import FormatError

_UPID_RE = re.compile(
    r"^UPID:(?P<node>[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):(?P<pid>[0-9A-Fa-f]{8}):"
    r"(?P<pstart>[0-9A-Fa-f]{8,9}):(?P<task_id>[0-9A-Fa-f]{8,16}):(?P<starttime>[0-9A-Fa-f]{8}):"
    r"(?P<wtype>[^:\s]+):(?P<wid>[^:\s]*):(?P<authid>[^:\s]+):$"
)
_STORE_FIRST = frozenset({"backup", "verify", "verificationjob", "verify_snapshot", "verify_group",
                          "garbage_collection", "prune", "prunejob", "reader"})
_ESCAPE_RE = re.compile(r"\\x([0-9A-Fa-f]{2})")
_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50,
          "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15}
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]i?B|B)\s*$")


@dataclass(frozen=True, slots=True)
class Upid:
    """A parsed task id. ``worker_id`` is unescaped (``store1:vm/100``)."""

    raw: str
    node: str
    pid: int
    pstart: int
    task_id: int
    starttime: int
    worker_type: str
    worker_id: str
    auth_id: str

    @property
    def log_subdir(self) -> str:
        """The per-task log directory under ``tasks/``: low byte of pstart, 2 uppercase hex."""
        return f"{self.pstart & 255:02X}"

    @property
    def datastore(self) -> str:
        """The datastore a task concerns, from its worker id layout ('' if none)."""
        parts = self.worker_id.split(":")
        if self.worker_type in ("syncjob", "sync"):
            return parts[2] if len(parts) >= 3 else ""
        return parts[0] if self.worker_type in _STORE_FIRST else ""


def systemd_unescape(text: str) -> str:
    r"""Undo systemd unit-name escaping: ``-`` is ``/`` and ``\xNN`` is a byte.

    >>> systemd_unescape(r"store1\x3avm-100\x2dx")
    'store1:vm/100-x'
    """
    text = text.replace("-", "/")
    if "\\x" not in text:
        return text
    unescaped = _ESCAPE_RE.sub(lambda m: chr(int(m[1], 16)), text)  # one char per byte
    try:
        return unescaped.encode("latin-1").decode("utf-8", errors="replace")
    except UnicodeEncodeError:  # not produced by systemd escaping: leave it as it is
        return unescaped


def parse_upid(text: str) -> Upid:
    """Parse ``UPID:node:pid:pstart:task_id:starttime:type:id:auth:``; FormatError if malformed."""
    m = _UPID_RE.match(text)
    if not m:
        raise FormatError(text[:120] or "<empty>", "not a UPID")
    return Upid(
        raw=text, node=m["node"], pid=int(m["pid"], 16), pstart=int(m["pstart"], 16),
        task_id=int(m["task_id"], 16), starttime=int(m["starttime"], 16),
        worker_type=m["wtype"], worker_id=systemd_unescape(m["wid"]), auth_id=m["authid"],
    )


@dataclass(frozen=True, slots=True)
class ArchiveLine:
    """One finished task from ``archive`` (or a finished line in ``active``)."""

    upid: Upid
    endtime: int
    status: str  # "ok" | "warning" | "error"
    message: str


def task_status(text: str) -> str:
    """Classify a task status text: ``OK`` → ok, ``WARNINGS: n`` → warning, else error."""
    if text == "OK":
        return "ok"
    if text.startswith("WARNINGS:"):
        return "warning"
    return "error"  # "unknown" (the worker died) or the error message


def parse_archive_line(line: str) -> ArchiveLine:
    """Parse ``<UPID> <ENDTIME %08X> <STATUS>``; FormatError if malformed."""
    parts = line.rstrip("\n").split(" ", 2)
    if len(parts) != 3:
        raise FormatError(line[:120] or "<empty>", "not '<UPID> <endtime> <status>'")
    upid = parse_upid(parts[0])
    try:
        endtime = int(parts[1], 16)
    except ValueError:
        raise FormatError(line[:120], f"end time {parts[1]!r} is not hex") from None
    return ArchiveLine(upid, endtime, task_status(parts[2]), parts[2])


def parse_human_bytes(text: str) -> int:
    """Parse a HumanByte size (``4 MiB``, ``1.5 GiB``, ``812 B``) into bytes."""
    m = _SIZE_RE.match(text)
    if not m:
        raise FormatError(text[:60] or "<empty>", "not a size like '1.5 GiB'")
    return round(float(m.group(1)) * _UNITS[m.group(2)])


@dataclass(slots=True)
class UploadStat:
    """The server's 'Upload statistics' block for one archive of a backup."""

    archive: str
    size: int = 0
    chunks: int = 0
    uploaded: int = 0
    client_dups: int = 0
    server_dups: int = 0


@dataclass(slots=True)
class TaskLog:
    """What the agent needs from one per-task log file."""

    namespace: str | None = None
    uploads: list[UploadStat] = field(default_factory=list)
    gc_removed_bytes: int | None = None
    gc_pending_bytes: int | None = None
    gc_dedup_factor: float | None = None
    verify_read_bytes: int = 0
    verify_decoded_bytes: int = 0
    verify_seconds: float = 0.0
    verify_errors: int = 0
    sync_bytes: int | None = None
    sync_chunks: int | None = None
    sync_rate: float | None = None
    result: str | None = None  # last line "TASK ..." text after "TASK "
    bad_lines: int = 0


_START_RE = re.compile(
    r"^starting new backup on datastore '[^']*'(?: from \S+)?: \"(?P<path>.*)\"$")
_UPLOAD_RE = re.compile(r"^Upload statistics for '(?P<name>.*)'$")
_DUPS_RE = re.compile(r"^Duplicates: (\d+)\+(\d+)")
_UPSIZE_RE = re.compile(r"^Upload size: (\d+)")
_PENDING_RE = re.compile(r"^Pending removals: (.+?) \(in \d+ chunks\)$")
_VERIFIED_RE = re.compile(
    r"^\s*verified ([0-9.]+)/([0-9.]+) MiB in ([0-9.]+) seconds, speed .* \((\d+) errors\)$")
_SYNC_RE = re.compile(
    r"^Summary: sync job pulled (.+?) in (\d+) chunks \(average rate: (.+?)/s\)$")
_MIB = 1 << 20
_STAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d): ")


def namespace_of(relative_path: str) -> str:
    """The namespace of a snapshot path ``ns/a/ns/b/vm/100/<time>`` → ``a/b`` ('' = root)."""
    parts = relative_path.strip("/").split("/")
    names = []
    while len(parts) >= 2 and parts[0] == "ns":
        names.append(parts[1])
        parts = parts[2:]
    return "/".join(names)


def message_of(line: str) -> str | None:
    """The message of a ``<RFC3339 time>: message`` line; None if it has no timestamp."""
    m = _STAMP_RE.match(line)
    return line[m.end():] if m else None


def parse_task_log(text: str) -> TaskLog:
    """Extract upload statistics, GC/verify/sync summaries and the result from a task log."""
    log = TaskLog()
    current: UploadStat | None = None
    for raw in text.splitlines():
        msg = message_of(raw)
        if msg is None:
            if raw.strip():
                log.bad_lines += 1
            continue
        try:
            current = _parse_message(log, msg, current)
        except (ValueError, FormatError):
            log.bad_lines += 1
            current = None
    return log


def _parse_message(log: TaskLog, msg: str, current: UploadStat | None) -> UploadStat | None:
    """Apply one log message to *log*; returns the upload block being filled, if any."""
    if msg.startswith("TASK "):
        log.result = msg[5:]
        return None
    if current is not None:
        if _fill_upload(current, msg):
            return current
        current = None
    if m := _UPLOAD_RE.match(msg):
        stat = UploadStat(m["name"])
        log.uploads.append(stat)
        return stat
    if log.namespace is None and (m := _START_RE.match(msg)):
        log.namespace = namespace_of(m["path"])
    elif msg.startswith(("Removed garbage: ", "Pending removals: ", "Deduplication factor: ")):
        _parse_gc_line(log, msg)
    elif m := _VERIFIED_RE.match(msg):
        log.verify_read_bytes += round(float(m[1]) * _MIB)
        log.verify_decoded_bytes += round(float(m[2]) * _MIB)
        log.verify_seconds += float(m[3])
        log.verify_errors += int(m[4])
    elif m := _SYNC_RE.match(msg):
        log.sync_bytes = parse_human_bytes(m[1])
        log.sync_chunks = int(m[2])
        log.sync_rate = float(parse_human_bytes(m[3]))
    elif msg == "Summary: sync job found no new data to pull":
        log.sync_bytes, log.sync_chunks = 0, 0
    return None


def _fill_upload(stat: UploadStat, msg: str) -> bool:
    """Fill one field of an upload statistics block; False if *msg* is not one of its lines."""
    if msg.startswith("Size: "):
        stat.size = int(msg[6:].split()[0])
    elif msg.startswith("Chunk count: "):
        stat.chunks = int(msg[13:].split()[0])
    elif m := _UPSIZE_RE.match(msg):
        stat.uploaded = int(m[1])
    elif m := _DUPS_RE.match(msg):
        stat.client_dups, stat.server_dups = int(m[1]), int(m[2])
    elif msg.startswith(("UUID: ", "Checksum: ", "Compression: ")):
        pass
    else:
        return False
    return True


def _parse_gc_line(log: TaskLog, msg: str) -> None:
    """One of the end-of-GC summary lines (sizes in HumanByte units)."""
    if msg.startswith("Removed garbage: "):
        log.gc_removed_bytes = parse_human_bytes(msg[17:])
    elif m := _PENDING_RE.match(msg):
        log.gc_pending_bytes = parse_human_bytes(m[1])
    else:
        try:
            log.gc_dedup_factor = float(msg.split(": ", 1)[1])
        except ValueError:
            raise FormatError(msg[:80], "dedup factor is not a number") from None
