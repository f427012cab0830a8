"""A cgroup of its own for each host's systemd-nspawn.

Without systemd on this machine, ``nspawn --keep-unit`` puts every container's payload into
``<caller's cgroup>/payload``: all hosts would share one cgroup tree and their systemds would
remove each other's unit cgroups ("Failed at step CGROUP"). Each nspawn therefore starts in
``/pf-h<i>`` of the systemd-relevant hierarchies (cgroup2 and the v1 ``name=systemd`` one).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path


def hierarchies() -> list[Path]:
    """Mount points of the cgroup2 and ``name=systemd`` hierarchies on this machine."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, point, fstype, options, *_ = line.split()
        if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in options.split(",")):
            found.append(Path(point))
    return found


def create(name: str) -> None:
    for root in hierarchies():
        (root / name).mkdir(exist_ok=True)


def wrap(name: str, argv: list[str]) -> list[str]:
    """*argv* run from a shell that first moves itself into the host's cgroups (then exec)."""
    moves = "; ".join(f"echo $$ > {shlex.quote(str(root / name / 'cgroup.procs'))}"
                      for root in hierarchies())
    return ["sh", "-c", f"{moves}; exec \"$@\"", "sh", *argv] if moves else argv


def remaining(name: str) -> list[Path]:
    """The host's cgroup directories that still exist."""
    return [root / name for root in hierarchies() if (root / name).is_dir()]


def remove(name: str) -> None:
    """Remove the host's (process-free) cgroup trees, deepest first."""
    for top in remaining(name):
        for directory, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(directory)
            except OSError:
                continue
