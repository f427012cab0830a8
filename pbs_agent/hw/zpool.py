"""``zpool status``: pool state, vdev tree with error counters, scrub and resilver.

OpenZFS >= 2.3 (Debian 13, PBS 4) prints JSON with ``-j``: :class:`ZpoolStatus` asks for it
first and falls back to the text (OpenZFS 2.1/2.2: "invalid option 'j'") for good.

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
Text copied from a terminal may carry spaces instead of the tab: the config table's indentation
is taken from its ``NAME STATE`` header line.

The JSON (``zpool status -j --json-int -P``, ``cmd/zpool/zpool_main.c``
``status_callback_json``) nests ``pools.<name>.vdevs.<root>.vdevs…`` with the classes ``dedup``,
``special``, ``logs``, ``l2cache`` and ``spares`` beside ``vdevs``, ``error_count`` for data
errors and ``scan_stats`` for the current or last scan. Its vdev states come from
``vdev_state_str`` (``CANT_OPEN`` where the text says UNAVAIL); both read the same here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import SourceError

SECTIONS = ("dedup", "special", "logs", "cache", "spares")
TEXT_ARGV = ["zpool", "status", "-P", "-p"]
JSON_ARGV = ["zpool", "status", "-j", "--json-int", "-P"]
#: Vdev rows read per pool (each becomes up to four series); the rest is reported, not kept.
MAX_VDEVS = 512
#: JSON vdev states (``vdev_state_str``) that the text prints under another name.
_JSON_STATES = {"CANT_OPEN": "UNAVAIL", "HEALTHY": "ONLINE"}
#: JSON pool classes -> the text's class header.
_JSON_CLASSES = (("dedup", "dedup"), ("special", "special"), ("logs", "logs"),
                 ("l2cache", "cache"), ("spares", "spares"))
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
    truncated: bool = False  # more than MAX_VDEVS vdev rows: the rest was not read

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


_HEADER = re.compile(r"^ {0,8}(\w+):(?: (.*))?$")
_TABLE_HEAD = re.compile(r"^(\s+)NAME\s+STATE\b")


def _parse_pool(lines: list[str], problems: list[str]) -> Pool:
    pool = Pool(name=lines[0].split("pool:", 1)[1].strip())
    key, scan_lines = "", []
    indent: str | None = None  # the config table's indentation, from its NAME header
    saw_config: bool | None = False  # None: zpool said why there is no table
    for line in lines[1:]:
        header = _HEADER.match(line)
        if header and not line.startswith("\t") and (key != "config" or indent is None
                                                     or not line.startswith(indent)):
            key = header.group(1)
            value = (header.group(2) or "").strip()
            if key == "config":
                saw_config = not value or None
                if value:  # "The configuration cannot be determined."
                    problems.append(f"zpool status: pool {pool.name}: config: {value[:80]}, "
                                    f"vdevs unknown")
            if key == "state":
                pool.state = value
            elif key == "scan":
                scan_lines.append(value)
            elif key == "errors":
                pool.data_errors = _data_errors(value, pool.name, problems)
        elif key == "config" and indent is None and (head := _TABLE_HEAD.match(line)):
            indent = head.group(1)
        elif key == "config" and line.strip() and line.startswith(indent or "\t"):
            _config_row(pool, line[len(indent or "\t"):], problems)
        elif key == "config" and line.strip():
            problems.append(f"zpool status: pool {pool.name}: config line outside the "
                            f"table: {line.strip()[:80]!r}")
        elif key == "scan" and line[:1] in ("\t", " ") and scan_lines:
            scan_lines[-1] += "\n" + line.strip()
    for scan_text in scan_lines:
        _scan(pool, scan_text, problems)
    _check(pool, problems)
    if saw_config is False:
        problems.append(f"zpool status: pool {pool.name}: no config section, vdevs unknown")
    elif saw_config and not pool.vdevs:
        problems.append(f"zpool status: pool {pool.name}: config section without a readable "
                        f"vdev row, vdevs unknown")
    return pool


def _check(pool: Pool, problems: list[str]) -> None:
    """Problems common to text and JSON: no state, too many vdevs."""
    if not pool.state:
        problems.append(f"zpool status: pool {pool.name}: no state line")
    if pool.truncated:
        problems.append(f"zpool status: pool {pool.name}: more than {MAX_VDEVS} vdevs, "
                        f"the rest is not read")


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


def _config_row(pool: Pool, body: str, problems: list[str]) -> None:
    """One row of the config table, without the table's indentation."""
    depth = len(body) - len(body.lstrip(" \t"))
    fields = body.split()
    if len(pool.vdevs) >= MAX_VDEVS:
        pool.truncated = True
        return
    section = pool.vdevs[-1].section if pool.vdevs else "data"
    if depth == 0 and len(fields) == 1 and fields[0] in SECTIONS:
        pool.vdevs.append(Vdev(fields[0], "", fields[0], 0, None))
        return
    if len(fields) < 2:
        problems.append(f"zpool status: pool {pool.name}: vdev row without state: {body.strip()!r}")
        return
    name, state, rest = fields[0], fields[1], fields[2:]
    errors = None
    if section != "spares":
        try:
            errors = dict(zip(("read", "write", "checksum"),
                              (parse_count(c) for c in rest[:3]), strict=True))
        except ValueError:
            problems.append(f"zpool status: pool {pool.name}: bad counters: {body.strip()!r}")
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


def parse_zpool_status_json(text: str, problems: list[str]) -> list[Pool]:
    """Parse ``zpool status -j`` output; ValueError if it is not that JSON at all."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"zpool status -j: not JSON ({exc.msg} at line {exc.lineno})") from None
    pools = doc.get("pools") if isinstance(doc, dict) else None
    if not isinstance(pools, dict):
        raise ValueError("zpool status -j: no 'pools' object")
    out = []
    for key, item in pools.items():
        if not isinstance(item, dict):
            problems.append(f"zpool status -j: pool {key!r} is not an object")
            continue
        out.append(_json_pool(str(item.get("name") or key), item, problems))
    return out


def _json_pool(name: str, item: dict[str, Any], problems: list[str]) -> Pool:
    pool = Pool(name=name, state=str(item.get("state") or ""))
    roots = item.get("vdevs")
    if isinstance(roots, dict) and roots:
        for vdev in roots.values():
            _json_vdev(pool, vdev, "data", 0, problems)
    else:
        problems.append(f"zpool status -j: pool {name}: no 'vdevs' object, vdevs unknown")
    for key, section in _JSON_CLASSES:
        members = item.get(key)
        if isinstance(members, dict) and members and len(pool.vdevs) < MAX_VDEVS:
            pool.vdevs.append(Vdev(section, "", section, 0, None))
            for vdev in members.values():
                _json_vdev(pool, vdev, section, 1, problems)
    errors = item.get("error_count")
    try:
        pool.data_errors = None if errors is None else _json_count(errors)
    except ValueError:
        problems.append(f"zpool status -j: pool {name}: error_count {errors!r}")
    scan = item.get("scan_stats")
    if isinstance(scan, dict):
        _json_scan(pool, scan, problems)
    _check(pool, problems)
    return pool


def _json_count(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        return parse_count(value)
    raise ValueError(f"not a count: {value!r}")


def _json_vdev(pool: Pool, vdev: Any, section: str, depth: int, problems: list[str]) -> None:
    if len(pool.vdevs) >= MAX_VDEVS:
        pool.truncated = True
        return
    if not isinstance(vdev, dict) or not isinstance(vdev.get("name"), str):
        problems.append(f"zpool status -j: pool {pool.name}: vdev without a name: "
                        f"{str(vdev)[:80]!r}")
        return
    state = str(vdev.get("state") or "")
    errors = None
    if section != "spares":
        try:
            errors = {kind: _json_count(vdev.get(f"{kind}_errors"))
                      for kind in ("read", "write", "checksum")}
        except ValueError as exc:
            problems.append(f"zpool status -j: pool {pool.name}: vdev {vdev['name']}: {exc}")
    note = f"was {vdev['was']}" if isinstance(vdev.get("was"), str) else \
        str(vdev.get("aux") or "")
    pool.vdevs.append(Vdev(vdev["name"], _JSON_STATES.get(state, state), section, depth, errors,
                           note))
    children = vdev.get("vdevs")
    if isinstance(children, dict):
        for child in children.values():
            _json_vdev(pool, child, section, depth + 1, problems)


def _json_scan(pool: Pool, scan: dict[str, Any], problems: list[str]) -> None:
    kind = {"SCRUB": "scrub", "RESILVER": "resilver"}.get(str(scan.get("function")))
    state = scan.get("state")
    if kind is None or state in (None, "NONE"):
        return
    try:
        if state == "SCANNING":
            paused = _json_count(scan.get("scrub_pause", 0)) != 0
            total = _json_count(scan["to_examine"]) - _json_count(scan.get("skipped", 0))
            issued = _json_count(scan["issued"])
            ratio = min(issued / total, 1.0) if total > 0 else None
            pool.scans.append(Scan(kind, not paused, None, None if paused else ratio))
        elif state == "FINISHED":
            pool.scans.append(Scan(kind, False, float(_json_count(scan["end_time"]))))
        else:  # CANCELED
            pool.scans.append(Scan(kind, False))
    except (KeyError, ValueError) as exc:
        problems.append(f"zpool status -j: pool {pool.name}: scan_stats: {exc}")


class ZpoolStatus:
    """Reads ``zpool status``: the JSON where zpool has ``-j`` (OpenZFS >= 2.3), else the text.

    An older zpool refuses ``-j`` with "invalid option"; after that only the text is asked
    for. JSON that cannot be read is a problem, and the text is read instead.
    """

    def __init__(self) -> None:
        self.json_supported: bool | None = None  # None: not asked yet

    def read(self, run_tool: Callable[[Sequence[str]], str], problems: list[str]) -> list[Pool]:
        """All pools; SourceError only if the text cannot be had either."""
        if self.json_supported is not False:
            try:
                text = run_tool(JSON_ARGV)
            except SourceError as exc:
                if "invalid option" in exc.reason or "unrecognized option" in exc.reason:
                    self.json_supported = False
            else:
                try:
                    pools = parse_zpool_status_json(text, problems)
                except ValueError as exc:
                    problems.append(f"{exc}; reading the text output instead")
                else:
                    self.json_supported = True
                    return pools
        return parse_zpool_status(run_tool(TEXT_ARGV), problems)
