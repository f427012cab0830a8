"""Debian's apt-cacher-ng, started by hand on the bridge address (this machine has no systemd).

Its own config directory has no ``Remap-*`` rules, so it fetches from whichever mirror the
client asked for (the packaged backends point at hosts this machine cannot resolve). The
package cache lives in the cache dir and survives runs; the daemon is stopped at teardown.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from lab.sandbox.config import APT_PROXY_PORT, BRIDGE_ADDRESS, HarnessError, Paths
from lab.sandbox.pidfile import kill, process_alive, read_pid, write_pid


def _config(paths: Paths) -> Path:
    conf = paths.apt_proxy / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    cache = paths.cache / "apt-cacher-ng"
    cache.mkdir(parents=True, exist_ok=True)
    (paths.apt_proxy / "log").mkdir(exist_ok=True)
    (conf / "acng.conf").write_text(
        f"CacheDir: {cache}\n"
        f"LogDir: {paths.apt_proxy / 'log'}\n"
        f"Port: {APT_PROXY_PORT}\n"
        f"BindAddress: {BRIDGE_ADDRESS}\n"
        f"SocketPath: {paths.apt_proxy / 'socket'}\n"
        f"PidFile: {paths.apt_proxy / 'acng.daemon.pid'}\n"
        "ExThreshold: 4\n"
        # Many hosts refreshing at once: serve index files fetched in the last 5 minutes
        # without re-fetching them (default 27 s), which also avoids acng's concurrent
        # InRelease replacement race ("Failure to move file … out of the way").
        "FreshIndexMaxAge: 300\n"
        "VerboseLog: 0\n")
    return conf


def _listening(timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((str(BRIDGE_ADDRESS), APT_PROXY_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def start(paths: Paths) -> int:
    """Start apt-cacher-ng unless ours is already running; returns its pid."""
    pidfile = paths.apt_proxy / "pid"
    pid = read_pid(pidfile)
    if pid and process_alive(pid) and _listening():
        return pid
    stop(paths)
    if _listening():
        raise HarnessError(
            f"{BRIDGE_ADDRESS}:{APT_PROXY_PORT} is taken by a process that is not the "
            "harness's apt-cacher-ng (a system apt-cacher-ng listening on all addresses? "
            "stop it, e.g. `/etc/init.d/apt-cacher-ng stop`)")
    conf = _config(paths)
    with open(paths.apt_proxy / "log" / "stdout.log", "ab") as log:
        proc = subprocess.Popen(["apt-cacher-ng", "-c", str(conf), "ForeGround=1"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    write_pid(pidfile, proc.pid)
    deadline = time.monotonic() + 10
    while not _listening():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(paths)
            raise HarnessError(f"apt-cacher-ng did not listen on {BRIDGE_ADDRESS}:"
                               f"{APT_PROXY_PORT}; see {paths.apt_proxy / 'log'}")
        time.sleep(0.05)
    return proc.pid


def stop(paths: Paths) -> None:
    """Stop our apt-cacher-ng (by its recorded pid only)."""
    pidfile = paths.apt_proxy / "pid"
    pid = read_pid(pidfile)
    if pid and process_alive(pid):
        kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if process_alive(pid):
            kill(pid)
    pidfile.unlink(missing_ok=True)
