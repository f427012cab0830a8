"""``zpool status -P -p`` text: pool state, vdev tree with error counters, scrub and resilver.

The text format (OpenZFS 2.1–2.3, ``cmd/zpool``) is::

      pool: tank
     state: ONLINE
      scan: scrub repaired 0B in 00:10:12 with 0 errors on Sun Nov  8 00:34:13 2026
    config:

    \tNAME                        STATE     READ WRITE CKSUM
    \ttank                        ONLINE       0     0     0
    \t  mirror-0                  ONLINE       0     0     0
    \t    /dev/disk/by-id/ata-A-part1  ONLINE  0     0     0
    \tspecial\t
    \t  /dev/disk/by-id/nvme-B-part1  ONLINE   0     0     0

    errors: No known data errors

Class headers (``special``, ``dedup``, ``logs``, ``cache``, ``spares``) sit at depth 0 without a
state; spares have a state (AVAIL, INUSE) but no counters. Times are the host's local time.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

SECTIONS = ("dedup", "special", "logs", "cache", "spares")
_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_CTIME = "%a %b %d %H:%M:%S %Y"
_FINISHED = re.compile(r"^(scrub repaired|resilvered(?: \(\S+\))?) \S+ in .+ with \d+ errors on "
                       r"(?P<when>.+)$")
_RUNNING = re.compile(r"^(?P<kind>scrub|resilver)(?: \(\S+\))? in progress since (?P<when>.+)$")
_PAUSED = re.compile(r"^scrub paused since (?P<when>.+)$")
_CANCELED = re.compile(r"^(scrub|resilver)(?: \(\S+\))? canceled on (?P<when>.+)$")
_DONE = re.compile(r"(\d+(?:\.\d+)?)% done")


@dataclass
class Vdev:
    """One row of the config tree."""

    name: str
    state: str
    section: str  # "data" or one of SECTIONS
    depth: int
    errors: dict[str, int] | None  # read/write/checksum; None for spares
    note: str = ""  # "was /dev/...", "cannot open", "(resilvering)"...

    @property
    def former_path(self) -> str:
        """The device path of a missing vdev (``was /dev/...``), else ""."""
        match = re.match(r"was (/\S+)", self.note)
        return match.group(1) if match else ""


@dataclass
class Scan:
    """A scrub or resilver, running or finished."""

    kind: str  # "scrub" | "resilver"
    running: bool
    end_timestamp: float | None = None
    progress_ratio: float | None = None


@dataclass
class Pool:
    """One pool of ``zpool status``."""

    name: str
    state: str = ""
    scans: list[Scan] = field(default_factory=list)
    vdevs: list[Vdev] = field(default_factory=list)
    data_errors: int | None = None

    def leaves(self) -> list[Vdev]:
        """Vdevs without children (disks, partitions, files), in order."""
        rows = self.vdevs
        return [v for i, v in enumerate(rows)
                if v.depth > 0 and (i + 1 == len(rows) or rows[i + 1].depth <= v.depth)]


def parse_count(text: str) -> int:
    """An error counter: exact (``-p``) or zfs_nicenum (``1.2K``). ValueError if neither."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGTPE]?)", text)
    if not match:
        raise ValueError(f"not an error count: {text!r}")
    return round(float(match.group(1)) * _SUFFIX[match.group(2)])


def parse_ctime(text: str) -> float:
    """ctime(3) text in the host's local time zone -> Unix time."""
    return time.mktime(time.strptime(text.strip(), _CTIME))


def parse_zpool_status(text: str, problems: list[str]) -> list[Pool]:
    """Parse all pools; each malformed piece is appended to *problems* and skipped."""
    pools: list[Pool] = []
    for block in re.split(r"(?m)^(?=\s*pool: )", text):
        if block.strip() and re.match(r"\s*pool: ", block):
            pools.append(_parse_pool(block.splitlines(), problems))
        elif block.strip():
            problems.append(f"zpool status: text outside a pool: {block.strip()[:60]!r}")
    return pools


def _parse_pool(lines: list[str], problems: list[str]) -> Pool:
    pool = Pool(name=lines[0].split("pool:", 1)[1].strip())
    key, scan_lines = "", []
    in_config = False
    for line in lines[1:]:
        header = re.match(r"^\s*(\w+):(?: (.*))?$", line)
        if header and not line.startswith("\t"):
            key = header.group(1)
            value = (header.group(2) or "").strip()
            in_config = key == "config"
            if key == "state":
                pool.state = value
            elif key == "scan":
                scan_lines.append(value)
            elif key == "errors":
                pool.data_errors = _data_errors(value, pool.name, problems)
        elif in_config and line.startswith("\t"):
            _config_row(pool, line, problems)
        elif key == "scan" and line.startswith("\t") and scan_lines:
            scan_lines[-1] += "\n" + line.strip()
    for scan_text in scan_lines:
        _scan(pool, scan_text, problems)
    if not pool.state:
        problems.append(f"zpool status: pool {pool.name}: no state line")
    return pool


def _data_errors(value: str, pool: str, problems: list[str]) -> int | None:
    if value.startswith("No known data errors"):
        return 0
    match = re.match(r"(\d+) data errors", value)
    if match:
        return int(match.group(1))
    if value.startswith("List of errors unavailable"):  # -v on a suspended pool, or no rights
        return None
    problems.append(f"zpool status: pool {pool}: unknown errors line {value[:60]!r}")
    return None


def _config_row(pool: Pool, line: str, problems: list[str]) -> None:
    body = line[1:]
    depth = len(body) - len(body.lstrip(" "))
    fields = body.split()
    if not fields or fields[:2] == ["NAME", "STATE"]:
        return
    section = pool.vdevs[-1].section if pool.vdevs else "data"
    if depth == 0 and len(fields) == 1 and fields[0] in SECTIONS:
        pool.vdevs.append(Vdev(fields[0], "", fields[0], 0, None))
        return
    if len(fields) < 2:
        problems.append(f"zpool status: pool {pool.name}: vdev row without state: {line.strip()!r}")
        return
    name, state, rest = fields[0], fields[1], fields[2:]
    errors = None
    if section != "spares":
        try:
            errors = dict(zip(("read", "write", "checksum"),
                              (parse_count(c) for c in rest[:3]), strict=True))
        except ValueError:
            problems.append(f"zpool status: pool {pool.name}: bad counters: {line.strip()!r}")
            return
        rest = rest[3:]
    pool.vdevs.append(Vdev(name, state, section, depth, errors, " ".join(rest)))


def _scan(pool: Pool, text: str, problems: list[str]) -> None:
    first = text.split("\n", 1)[0]
    try:
        if first.startswith("none requested"):
            return
        if match := _FINISHED.match(first):
            kind = "scrub" if first.startswith("scrub") else "resilver"
            pool.scans.append(Scan(kind, False, parse_ctime(match.group("when"))))
        elif match := _RUNNING.match(first):
            done = _DONE.search(text)
            ratio = float(done.group(1)) / 100.0 if done else None
            pool.scans.append(Scan(match.group("kind"), True, None, ratio))
        elif _PAUSED.match(first) or _CANCELED.match(first):
            kind = "resilver" if first.startswith("resilver") else "scrub"
            pool.scans.append(Scan(kind, False))
        else:
            problems.append(f"zpool status: pool {pool.name}: unknown scan line {first[:80]!r}")
    except ValueError as exc:
        problems.append(f"zpool status: pool {pool.name}: scan time: {exc}")
