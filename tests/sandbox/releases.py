"""The Debian releases the lab boots sandbox hosts of, for tests parametrized per release.

:data:`RELEASES` is the lab's list (``lab.sandbox.rootfs.SUITES``): every test parametrized over
it runs on each release, Debian 12 and 13 today.
"""

from __future__ import annotations

from lab.sandbox import Sandbox, SandboxHost, rootfs

RELEASES: tuple[str, ...] = tuple(rootfs.SUITES)


def start_release_host(sandbox: Sandbox, release: str) -> SandboxHost:
    """A fresh host of *release* (kept until ``sandbox.stop_host``)."""
    return sandbox.start_host(suite=release)
