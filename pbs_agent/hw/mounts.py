"""Which filesystem holds a path: ``/proc/<pid>/mountinfo`` parsing and longest-prefix lookup.

>>> m = parse_mountinfo("29 1 0:25 / /tank/pbs rw,noatime shared:1 - zfs tank/pbs rw\\n", [])
>>> find_mount(m, "/tank/pbs/.chunks").source
'tank/pbs'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError, os_reason

_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    """One line of mountinfo: where, what, which device number."""

    devnum: str  # "major:minor"
    mountpoint: str
    fstype: str
    source: str

    @property
    def zfs_pool(self) -> str:
        """The pool of a ZFS dataset mount ("tank" for "tank/pbs"), else ""."""
        return self.source.split("/", 1)[0] if self.fstype == "zfs" else ""


def _unescape(field: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str, problems: list[str]) -> list[Mount]:
    """Parse mountinfo text; each malformed line is appended to *problems* and skipped."""
    mounts = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            sep = fields.index("-", 6)
            mounts.append(Mount(
                devnum=fields[2], mountpoint=_unescape(fields[4]),
                fstype=fields[sep + 1], source=_unescape(fields[sep + 2]),
            ))
        except (ValueError, IndexError):
            problems.append(f"mountinfo line {number}: not 'id parent maj:min root mp ... - "
                            f"fstype source opts'")
    return mounts


def read_mountinfo(procfs: Path) -> str:
    """The mount table of the host (PID 1's namespace), else of this process."""
    for candidate in (procfs / "1" / "mountinfo", procfs / "self" / "mountinfo"):
        try:
            return candidate.read_text()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise SourceError(str(candidate), os_reason(exc)) from None
    raise SourceError(str(procfs / "self" / "mountinfo"), "not found")


def find_mount(mounts: list[Mount], path: str) -> Mount | None:
    """The mount holding *path*: longest mount point prefix; the last of over-mounts wins."""
    path = os.path.normpath(path)
    best: Mount | None = None
    for mount in mounts:
        mp = mount.mountpoint
        inside = path == mp or mp == "/" or path.startswith(mp.rstrip("/") + "/")
        if inside and (best is None or len(mp) >= len(best.mountpoint)):
            best = mount
    return best
