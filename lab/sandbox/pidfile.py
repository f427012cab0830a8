"""Pid files that survive pid reuse: each records the pid and the process start time."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def start_time(pid: int) -> str | None:
    """The kernel's start time of *pid* (field 22 of /proc/PID/stat), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def write_pid(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid} {start_time(pid)}\n")


def read_pid(path: Path) -> int | None:
    """The recorded pid if that very process still runs (same start time), else None."""
    try:
        pid_text, started = path.read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    pid = int(pid_text)
    return pid if start_time(pid) == started else None


def process_alive(pid: int) -> bool:
    """True while *pid* exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def kill(pid: int, sig: int = signal.SIGKILL) -> None:
    """Send *sig* to *pid*; a process that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
