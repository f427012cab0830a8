"""Run a command and measure its peak RSS and wall time, truthfully.

``ru_maxrss`` survives ``exec``: a child started by a large process (pytest with a few hundred
MB, through ``vfork``) reports the parent's peak, not its own. So the command is started by a
small launcher (``python -m lab.measure``) that forks it from its own few MB and reports the
child's ``wait4`` figures (its peak is the largest of the command and the command's children,
e.g. the scan's forked listing process).

    python -m lab.measure RESULT_FILE COMMAND [ARG ...]
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Measured:
    """One run: exit code (-N: killed by signal N), output, peak RSS in bytes, seconds;
    ``timed_out``: it was killed at the timeout (a hang)."""

    returncode: int
    stdout: str
    stderr: str
    maxrss: int
    seconds: float
    timed_out: bool = False


def run(argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None,
        cwd: str | None = None) -> Measured:
    """Run *argv* through the launcher; a run past *timeout* is killed with its process
    group and reported ``timed_out``."""
    with tempfile.NamedTemporaryFile(prefix="measure-", suffix=".json") as result, \
            tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        launcher = [sys.executable, "-m", "lab.measure", result.name, *argv]
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        full_env = dict(env if env is not None else os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(  # a given path first (other code)
            p for p in (full_env.get("PYTHONPATH", ""), repo) if p)
        t = time.monotonic()
        proc = subprocess.Popen(launcher, stdout=out, stderr=err, env=full_env, cwd=cwd,
                                start_new_session=True)
        try:
            proc.wait(timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            timed_out = True
        seconds = time.monotonic() - t
        out.seek(0)
        err.seek(0)
        try:
            with open(result.name) as fh:
                figures = json.load(fh)
        except (OSError, ValueError):
            figures = {"returncode": proc.returncode, "maxrss": 0}
        return Measured(figures["returncode"], out.read().decode(errors="replace"),
                        err.read().decode(errors="replace"), figures["maxrss"], seconds,
                        timed_out)


def main(argv: list[str]) -> int:
    result, *cmd = argv
    pid = os.fork()
    if pid == 0:  # forked from this small process: the command's peak starts small
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
    _, status, usage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as fh:
        json.dump({"returncode": code, "maxrss": usage.ru_maxrss * 1024}, fh)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
