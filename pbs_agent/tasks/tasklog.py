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


#: Tasks that insert chunks into a datastore and hold its chunk store's shared lock while they
#: run, which GC's cutoff respects ("oldest writer"): backups, and sync jobs pulling into it.
WRITER_TYPES = frozenset({"backup", "syncjob", "sync"})


def oldest_writer(active_text: str, store: str) -> int | None:
    r"""Start time of the oldest task still writing chunks into *store*, from the text of
    ``tasks/active`` (a running task is a line holding only its UPID); None if none runs.
    Lines that are not UPIDs are skipped.

    >>> u = "UPID:pbs1:00000001:00000002:00000003:{:08X}:backup:s1\\x3avm-100:root@pam:"
    >>> oldest_writer("\n".join([u.format(200), u.format(100) + " 6A 0K", u.format(300)]), "s1")
    200
    """
    starts = []
    for line in active_text.splitlines():
        text = line.strip()
        if not text or " " in text:
            continue
        try:
            upid = parse_upid(text)
        except FormatError:
            continue
        if upid.worker_type in WRITER_TYPES and upid.datastore == store:
            starts.append(upid.starttime)
    return min(starts, default=None)


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
class GcSummary:
    """The end-of-GC summary lines (pbs-datastore ``garbage_collection``); None = not printed.

    Sizes are bytes (HumanByte parsed back); ``disk_*`` are chunks in use after the sweep.
    """

    removed_bytes: int | None = None
    removed_chunks: int | None = None
    pending_bytes: int | None = None
    pending_chunks: int | None = None
    removed_bad: int | None = None  # "Removed bad chunks"
    still_bad: int | None = None  # "Leftover bad chunks"
    original_bytes: int | None = None  # "Original data usage"
    disk_bytes: int | None = None  # "On-Disk usage"
    disk_chunks: int | None = None
    dedup_factor: float | None = None
    average_chunk_bytes: int | None = None
    cache_hits: int | None = None  # PBS 4: "Chunk cache: hits H, misses M (hit ratio R%)"
    cache_misses: int | None = None

    def printed(self) -> bool:
        """Whether any summary line was read (a GC that failed early prints none)."""
        return any(getattr(self, name) is not None for name in self.__slots__)


@dataclass(slots=True)
class TaskLog:
    """What the agent needs from one per-task log file."""

    namespace: str | None = None
    uploads: list[UploadStat] = field(default_factory=list)
    gc: GcSummary = field(default_factory=GcSummary)
    verify_read_bytes: int = 0
    verify_decoded_bytes: int = 0
    verify_seconds: float = 0.0
    verify_errors: int = 0
    verify_ok: int = 0  # snapshots verified without errors
    verify_failed: int = 0  # snapshots with a failed archive or an unreadable manifest
    verify_skipped: int = 0  # "SKIPPED: verify …" (recently verified, gone, locked)
    sync_bytes: int | None = None
    sync_chunks: int | None = None
    sync_rate: float | None = None  # None when PBS printed none or "NaN"
    result: str | None = None  # last line "TASK ..." text after "TASK "
    bad_lines: int = 0


_START_RE = re.compile(
    r"^starting new backup on datastore '[^']*'(?: from \S+)?: \"(?P<path>.*)\"$")
_UPLOAD_RE = re.compile(r"^Upload statistics for '(?P<name>.*)'$")
_DUPS_RE = re.compile(r"^Duplicates: (\d+)\+(\d+)")
_UPSIZE_RE = re.compile(r"^Upload size: (\d+)")
#: Client-side line, also in task logs written by pbs-plus: "<archive>: had to backup X of Y
#: (compressed Z) in N s (average R/s)"; 3.x: "... in 1.23s"; a 2024 rewording: "had to back
#: up X of Y (Z compressed) in N s (average R/s)".
_CLIENT_RE = re.compile(
    r"^(?P<archive>\S+): had to back ?up (?P<dirty>.+?) of (?P<size>.+?) "
    r"\((?:compressed .+?|.+? compressed)\) in [0-9.]+ ?s(?: \(average .+?/s\))?$")
_GC_SIZE = {"Removed garbage": "removed_bytes", "Original data usage": "original_bytes",
            "Average chunk size": "average_chunk_bytes"}
_GC_COUNT = {"Removed chunks": "removed_chunks", "Removed bad chunks": "removed_bad",
             "Leftover bad chunks": "still_bad", "On-Disk chunks": "disk_chunks"}
_PENDING_RE = re.compile(r"^Pending removals: (.+?) \(in (\d+) chunks\)$")
_DISK_RE = re.compile(r"^On-Disk usage: (.+?) \([0-9.]+%\)$")
_CACHE_RE = re.compile(r"^Chunk cache: hits (\d+), misses (\d+) \(hit ratio [0-9.]+%\)$")
_VERIFIED_RE = re.compile(
    r"^\s*verified ([0-9.]+)/([0-9.]+) MiB in ([0-9.]+) seconds, speed .* \((\d+) errors\)$")
#: src/backup/verify.rs (3.2.4 and 4.2.3 alike): "verify <store>:<type>/<id>/<time>",
#: "verify <store>:<snapshot>/<archive> failed: <err>", "… - manifest load error: …",
#: "SKIPPED: verify <store>:<snapshot> (recently verified)" or " - <reason>".
_SNAP = r"(?P<snap>\S+/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"
_VERIFY_SNAP_RE = re.compile(rf"^verify [^:\s]+:{_SNAP}$")
_VERIFY_FAIL_RE = re.compile(
    rf"^verify [^:\s]+:{_SNAP}(?:/\S+ failed: | - manifest (?:load|update) error: )")
_VERIFY_SKIP_RE = re.compile(rf"^SKIPPED: verify [^:\s]+:{_SNAP}(?: \(recently verified\)| - )")
#: src/api2/pull.rs (3.x), src/server/sync.rs (4.x, also "pushed"). The rate is
#: "NaN B/s" when nothing was pulled in builds between two commits of 2024-03-07.
_SYNC_RE = re.compile(
    r"^Summary: sync job (?:pulled|pushed) (.+?) in (\d+) chunks \(average rate: (.+?)/s\)$")
_SYNC_NONE = ("Summary: sync job found no new data to pull",
              "Summary: sync job found no new data to push")
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
    """The message of a ``<RFC3339 time>: message`` line; None if it has no timestamp.

    A second timestamp right after the first (pbs-plus writes its TASK line so) is dropped too.
    """
    m = _STAMP_RE.match(line)
    if not m:
        return None
    msg = line[m.end():]
    while again := _STAMP_RE.match(msg):
        msg = msg[again.end():]
    return msg


def parse_task_log(text: str) -> TaskLog:
    """Extract upload statistics, GC/verify/sync summaries and the result from a task log.

    A line that cannot be read is counted in ``bad_lines`` and changes nothing else: the
    lines after it are read as if it were not there.
    """
    log = TaskLog()
    current: UploadStat | None = None
    started: int = 0
    failed: set[str] = set()
    client: list[UploadStat] = []
    for raw in text.splitlines():
        msg = message_of(raw)
        if msg is None:
            if raw.strip():
                log.bad_lines += 1
            continue
        try:
            if current is not None and _fill_upload(current, msg):
                continue
            current = None
            if m := _VERIFY_SNAP_RE.match(msg):
                started += 1
            elif m := _VERIFY_FAIL_RE.match(msg):
                failed.add(m["snap"])
            elif _VERIFY_SKIP_RE.match(msg):
                log.verify_skipped += 1
            elif m := _CLIENT_RE.match(msg):
                client.append(UploadStat(m["archive"], size=parse_human_bytes(m["size"]),
                                         uploaded=parse_human_bytes(m["dirty"])))
            else:
                current = _parse_message(log, msg)
        except (ValueError, FormatError):
            log.bad_lines += 1  # an upload block being read stays open for its next lines
    log.verify_failed = len(failed)
    log.verify_ok = max(started - len(failed), 0)
    server = {u.archive for u in log.uploads}
    log.uploads += [u for u in client if u.archive not in server]
    return log


def _parse_message(log: TaskLog, msg: str) -> UploadStat | None:
    """Apply one log message to *log*; returns the upload block it opens, if any."""
    if msg.startswith("TASK "):
        log.result = msg[5:]
    elif m := _UPLOAD_RE.match(msg):
        stat = UploadStat(m["name"])
        log.uploads.append(stat)
        return stat
    elif log.namespace is None and (m := _START_RE.match(msg)):
        log.namespace = namespace_of(m["path"])
    elif m := _VERIFIED_RE.match(msg):
        log.verify_read_bytes += round(float(m[1]) * _MIB)
        log.verify_decoded_bytes += round(float(m[2]) * _MIB)
        log.verify_seconds += float(m[3])
        log.verify_errors += int(m[4])
    elif m := _SYNC_RE.match(msg):
        log.sync_bytes = parse_human_bytes(m[1])
        log.sync_chunks = int(m[2])
        log.sync_rate = _rate(m[3])
    elif msg in _SYNC_NONE:
        log.sync_bytes, log.sync_chunks = 0, 0
    else:
        _parse_gc_line(log.gc, msg)
    return None


def _rate(text: str) -> float | None:
    """A HumanByte rate; None for "NaN B" / "inf B" (nothing pulled in no time)."""
    if text.split(" ", 1)[0].lower() in ("nan", "inf", "-inf"):
        return None
    return float(parse_human_bytes(text))


def _fill_upload(stat: UploadStat, msg: str) -> bool:
    """Fill one field of an upload statistics block; False if *msg* is not one of its lines.

    ValueError if it is one of them but its value is unreadable."""
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


def _parse_gc_line(gc: GcSummary, msg: str) -> None:
    """One of the end-of-GC summary lines, if *msg* is one; FormatError if its value is bad."""
    key, sep, value = msg.partition(": ")
    if not sep:
        return
    if key in _GC_SIZE:
        setattr(gc, _GC_SIZE[key], parse_human_bytes(value))
    elif key in _GC_COUNT:
        if not value.isdigit():
            raise FormatError(msg[:80], f"{key.lower()} is not a count")
        setattr(gc, _GC_COUNT[key], int(value))
    elif key == "Deduplication factor":
        try:
            gc.dedup_factor = float(value)
        except ValueError:
            raise FormatError(msg[:80], "dedup factor is not a number") from None
    elif key == "Pending removals":
        if not (m := _PENDING_RE.match(msg)):
            raise FormatError(msg[:80], "not 'Pending removals: <size> (in <n> chunks)'")
        gc.pending_bytes, gc.pending_chunks = parse_human_bytes(m[1]), int(m[2])
    elif key == "On-Disk usage":
        if not (m := _DISK_RE.match(msg)):
            raise FormatError(msg[:80], "not 'On-Disk usage: <size> (<pct>%)'")
        gc.disk_bytes = parse_human_bytes(m[1])
    elif key == "Chunk cache":
        if not (m := _CACHE_RE.match(msg)):
            raise FormatError(msg[:80], "not 'Chunk cache: hits H, misses M (hit ratio R%)'")
        gc.cache_hits, gc.cache_misses = int(m[1]), int(m[2])
