"""Where the VM tier keeps its image cache and per-run state, and its error types."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lab.sandbox.config import Paths as SandboxPaths


class VmError(RuntimeError):
    """A VM harness step failed; the message names the step and the reason."""


class VmUnavailable(VmError):
    """This machine cannot build or boot the test VM (not root, no QEMU, …)."""


REQUIRED_TOOLS = ("qemu-system-x86_64", "qemu-img", "debootstrap", "mkfs.ext4", "unshare",
                  "chroot", "ssh-keygen")


@dataclass(frozen=True)
class Paths:
    """``cache`` survives runs (images); ``state`` holds one run's overlays, logs and sockets."""

    cache: Path
    state: Path

    @classmethod
    def from_env(cls) -> Paths:
        """The sandbox harness's roots (``$PBS_FLEET_CACHE``, ``$PBS_FLEET_STATE``), under vm/."""
        roots = SandboxPaths.from_env()
        return cls(cache=roots.cache / "vm", state=roots.state / "vm")


def require_vm_tools() -> None:
    """Raise :class:`VmUnavailable` naming what this machine lacks."""
    if os.geteuid() != 0:
        raise VmUnavailable(f"the VM tier needs root (euid is {os.geteuid()})")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise VmUnavailable("the VM tier needs these commands, missing: " + ", ".join(missing)
                            + " (run scripts/bootstrap.sh: Debian packages qemu-system-x86, "
                            "qemu-utils, debootstrap, e2fsprogs, openssh-client)")
