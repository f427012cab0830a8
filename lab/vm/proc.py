"""Running commands on this machine for the VM harness (as root, never through a shell)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from lab.vm.config import VmError


def run(command: Sequence[str | Path], *, timeout: float = 120, log: Path | None = None,
        check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run *command* (paths as strings); output is captured, or appended to *log* for long steps.

    Raises :class:`VmError` naming the command and the tail of its output on failure.
    """
    argv = [str(a) for a in command]
    try:
        if log is None:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                    check=False, env=env)
        else:
            with open(log, "a") as out:
                out.write(f"\n$ {' '.join(argv)}\n")
                out.flush()
                result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, text=True,
                                        timeout=timeout, check=False, env=env)
    except FileNotFoundError as exc:
        raise VmError(f"{argv[0]}: command not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise VmError(f"{' '.join(argv)}: timed out after {timeout:.0f} s") from exc
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-800:] if log is None \
            else _tail(log)
        raise VmError(f"{' '.join(argv)}: exit {result.returncode}: {detail}")
    return result


def _tail(path: Path, chars: int = 1500) -> str:
    text = path.read_text(errors="replace")
    return f"(see {path}) …{text[-chars:]}"
