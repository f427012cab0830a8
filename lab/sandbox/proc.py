"""Running commands on this machine for the harness (all as root, never through a shell)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from lab.sandbox.config import HarnessError


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 120,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run *argv*, capture text output; raise :class:`HarnessError` naming the command."""
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                                input=input, check=False)
    except FileNotFoundError as exc:
        raise HarnessError(f"{argv[0]}: command not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"{' '.join(argv)}: timed out after {timeout} s") from exc
    if check and result.returncode != 0:
        raise HarnessError(f"{' '.join(argv)}: exit {result.returncode}: "
                           f"{(result.stderr or result.stdout).strip()[-800:]}")
    return result


def ok(argv: Sequence[str], timeout: float = 30) -> bool:
    """True when *argv* exits 0 (output discarded)."""
    return run(argv, check=False, timeout=timeout).returncode == 0
