"""What of the sandbox still exists on this machine: processes, namespaces, links, mounts."""

from __future__ import annotations

import os
from pathlib import Path

from lab.sandbox import cgroups, network
from lab.sandbox.config import Paths


def _cmdline(pid: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def root_upperdir(pid: str) -> str:
    """The overlay upper dir of *pid*'s root mount ("" if its root is not an overlay).

    ``/proc/PID/root`` reads as "/" for a process in another mount namespace, so the
    container a process belongs to is found from its root mount instead.
    """
    try:
        with open(f"/proc/{pid}/mountinfo") as mountinfo:
            for line in mountinfo:
                fields = line.split()
                if fields[4] == "/":
                    options = fields[-1].split(",")
                    return next((o[9:] for o in options if o.startswith("upperdir=")), "")
    except OSError:
        pass
    return ""


def our_processes(paths: Paths, host: str | None = None) -> list[str]:
    """``pid:command`` of processes belonging to the sandbox (or to one *host*).

    A process is ours when its root is a host's overlay (everything inside a container), or
    it is a systemd-nspawn for a pf- machine, or apt-cacher-ng with our config.
    """
    hosts_dir = str(paths.hosts / host if host else paths.hosts) + "/"
    machine_flag = f"--machine={host}" if host else "--machine=pf-h"
    acng_conf = str(paths.apt_proxy / "conf")
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        argv = _cmdline(pid)
        if not argv or not argv[0]:
            continue
        mine = (root_upperdir(pid).startswith(hosts_dir)
                or any(arg == machine_flag or (host is None and arg.startswith(machine_flag))
                       for arg in argv)
                or (host is None and acng_conf in argv))
        if mine:
            found.append(f"{pid}:{Path(argv[0]).name}")
    return found


def our_mounts(paths: Paths, host: str | None = None) -> list[str]:
    """Mount points under the harness's host dirs."""
    prefix = str(paths.hosts / host if host else paths.hosts) + "/"
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return [point for point in points if (point + "/").startswith(prefix)]


def leftovers(paths: Paths, host: str | None = None) -> list[str]:
    """Human-readable list of everything of the sandbox (or of one *host*) still present."""
    if host is None:
        netns, links = network.our_netns(), network.our_links()
    else:
        index = host.removeprefix("pf-h")
        netns = [n for n in network.our_netns() if n == host]
        links = [link for link in network.our_links() if link == f"pfv-h{index}"]
    items = [f"process {p}" for p in our_processes(paths, host)]
    items += [f"netns {n}" for n in netns] + [f"link {link}" for link in links]
    items += [f"mount {m}" for m in our_mounts(paths, host)]
    names = [host] if host else [d.name for root in cgroups.hierarchies()
                                 for d in root.glob("pf-h*")]
    items += [f"cgroup {c}" for name in names for c in cgroups.remaining(name)]
    host_dir = paths.hosts / host if host else None
    if host_dir is not None and host_dir.exists():
        items.append(f"dir {host_dir}")
    return items
