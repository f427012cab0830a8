"""A user of the sandbox: shared infrastructure, host allocation, cleanup of stale leftovers.

Several test sessions (and the manual ``scripts/sandbox.py``) may use the sandbox at once.
The bridge, the client namespaces and apt-cacher-ng are shared; each host belongs to one
owner (a live process, or ``manual``).  Hosts of dead owners are removed on the next open;
the shared part is torn down when the last session closes and no host is left.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from lab.sandbox import aptcache, netclient, network, rootfs
from lab.sandbox.config import (
    INOTIFY_PER_HOST,
    MAX_HOSTS,
    HarnessError,
    Paths,
    require_sandbox,
)
from lab.sandbox.kernel import inotify_instances_in_use, inotify_limit
from lab.sandbox.leftovers import leftovers
from lab.sandbox.machine import SandboxHost, destroy_host_dir
from lab.sandbox.pidfile import read_pid, start_time, write_pid

MANUAL = "manual"


class Sandbox:
    """Open it (or use ``with``), then ``start_hosts(n)``; ``close()`` removes its hosts."""

    def __init__(self, paths: Paths | None = None, *, manual: bool = False) -> None:
        self.paths = paths or Paths.from_env()
        self.manual = manual
        self.hosts: list[SandboxHost] = []
        self.base: Path | None = None
        self.allowed = netclient.ALLOWED
        self.denied = netclient.DENIED

    def __enter__(self) -> Sandbox:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.paths.state.mkdir(parents=True, exist_ok=True)
        with open(self.paths.lock, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    @property
    def _session_file(self) -> Path:
        return self.paths.sessions / f"{os.getpid()}-{id(self):x}"

    def open(self) -> Sandbox:
        """Check the machine, clean stale leftovers, bring up the shared part, get the base."""
        require_sandbox()
        with self._lock():
            sweep_stale(self.paths)
            if not self.manual:
                write_pid(self._session_file, os.getpid())
            network.ensure_bridge()
            netclient.ensure_clients()
            aptcache.start(self.paths)
            _ensure_ssh_key(self.paths.ssh_key)
        self.base = rootfs.ensure_base(self.paths)
        return self

    def start_hosts(self, count: int, suite: str | None = None) -> list[SandboxHost]:
        """Boot *count* fresh hosts in parallel (Debian *suite*, default
        :data:`rootfs.SUITE`); all are up (SSH + systemd) on return."""
        base = self.base
        if base is None:
            raise HarnessError("Sandbox.start_hosts called before open()")
        if suite is not None and suite != rootfs.SUITE:
            base = rootfs.ensure_base(self.paths, suite)
        with self._lock():
            _check_inotify_headroom(count)
            hosts = [SandboxHost(index, self.paths, self.paths.ssh_key)
                     for index in self._allocate(count)]
        with ThreadPoolExecutor(max_workers=max(1, min(count, 20))) as pool:
            outcomes = pool.map(self._start_one, hosts, itertools.repeat(base))
            failures = [exc for exc in outcomes if exc]
        started = [host for host in hosts if host.dir.exists()]
        self.hosts.extend(started)
        if failures:
            raise HarnessError(f"{len(failures)} of {count} hosts failed to start; first: "
                               f"{failures[0]}")
        return hosts

    def start_host(self, suite: str | None = None) -> SandboxHost:
        return self.start_hosts(1, suite)[0]

    def _start_one(self, host: SandboxHost, base: Path) -> Exception | None:
        try:
            host.start(base)
        except Exception as exc:
            host.stop()
            return exc
        return None

    def _allocate(self, count: int) -> list[int]:
        owner = MANUAL if self.manual else f"{os.getpid()} {start_time(os.getpid())}"
        indexes = []
        for index in range(MAX_HOSTS):
            host_dir = self.paths.hosts / f"pf-h{index}"
            try:
                host_dir.mkdir(parents=True)
            except FileExistsError:
                continue
            (host_dir / "owner").write_text(owner + "\n")
            indexes.append(index)
            if len(indexes) == count:
                return indexes
        raise HarnessError(f"no free sandbox host slot (at most {MAX_HOSTS} hosts)")

    def sweep(self) -> None:
        """Remove hosts left behind by sessions that died (e.g. killed pytest runs)."""
        with self._lock():
            sweep_stale(self.paths)
            live_sessions(self.paths)

    def stop_host(self, host: SandboxHost) -> None:
        self.stop_hosts([host])

    def stop_hosts(self, hosts: list[SandboxHost]) -> None:
        """Destroy *hosts* in parallel."""
        with ThreadPoolExecutor(max_workers=max(1, min(len(hosts), 20))) as pool:
            list(pool.map(SandboxHost.stop, hosts))
        self.hosts = [h for h in self.hosts if all(h is not gone for gone in hosts)]

    def close(self) -> None:
        """Remove this session's hosts; the shared part goes when nobody uses it."""
        self.stop_hosts(list(self.hosts))
        with self._lock():
            self._session_file.unlink(missing_ok=True)
            if not live_sessions(self.paths) and not host_dirs(self.paths):
                teardown_shared(self.paths)


def _check_inotify_headroom(count: int) -> None:
    """Refuse to start hosts whose systemd would run out of inotify instances."""
    in_use, limit = inotify_instances_in_use(), inotify_limit()
    needed = count * INOTIFY_PER_HOST
    if in_use + needed > limit:
        raise HarnessError(
            f"starting {count} host(s) needs about {needed} inotify instances, {in_use} of "
            f"fs.inotify.max_user_instances={limit} are in use (the harness does not raise "
            f"this kernel-wide limit; stop other hosts or raise it yourself)")


def _ensure_ssh_key(key: Path) -> None:
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pf-sandbox",
                        "-f", str(key)], check=True, capture_output=True)


def host_dirs(paths: Paths) -> list[Path]:
    return sorted(paths.hosts.glob("pf-h*")) if paths.hosts.is_dir() else []


def live_sessions(paths: Paths) -> list[int]:
    """Pids of sessions still running (dead entries are removed)."""
    alive = []
    for entry in sorted(paths.sessions.glob("*")) if paths.sessions.is_dir() else []:
        pid = read_pid(entry)
        if pid is None:
            entry.unlink(missing_ok=True)
        else:
            alive.append(pid)
    return alive


def _owner_alive(host_dir: Path) -> bool:
    try:
        owner = (host_dir / "owner").read_text().strip()
    except FileNotFoundError:
        return False
    if owner == MANUAL:
        return True
    pid, _, started = owner.partition(" ")
    if not pid.isdigit():
        return False  # empty or garbled (e.g. written while the disk was full): stale
    return start_time(int(pid)) == started


def destroy_host(host_dir: Path) -> None:
    index = host_dir.name.removeprefix("pf-h")
    destroy_host_dir(host_dir, host_dir.name, f"pfv-h{index}")


def sweep_stale(paths: Paths) -> None:
    """Destroy hosts whose owner process is gone (a crashed or killed test session)."""
    for host_dir in host_dirs(paths):
        if not _owner_alive(host_dir):
            destroy_host(host_dir)


def teardown_shared(paths: Paths) -> None:
    """Stop apt-cacher-ng, delete every pf- namespace, link and the bridge."""
    aptcache.stop(paths)
    for host_dir in host_dirs(paths):
        destroy_host(host_dir)
    netclient.delete_clients()
    network.delete_stray()
    network.delete_bridge()
    left = leftovers(paths)
    if left:
        raise HarnessError("sandbox teardown left: " + "; ".join(left))


def destroy_manual(paths: Paths, *, everything: bool = False) -> None:
    """Remove manual and stale hosts (all hosts if *everything*), then the shared part
    unless a live session still uses it (``scripts/sandbox.py down [--all]``)."""
    with open(_lock_path(paths), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for host_dir in host_dirs(paths):
            manual = (host_dir / "owner").exists() and (
                (host_dir / "owner").read_text().strip() == MANUAL)
            if everything or manual or not _owner_alive(host_dir):
                destroy_host(host_dir)
        if not host_dirs(paths) and (everything or not live_sessions(paths)):
            teardown_shared(paths)


def _lock_path(paths: Paths) -> Path:
    paths.state.mkdir(parents=True, exist_ok=True)
    return paths.lock
