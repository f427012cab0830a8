"""The Debian releases the lab can boot sandbox hosts of, for tests parametrized per release.

Today the lab builds one root filesystem (``lab.sandbox.rootfs.SUITE``); when it offers several
(``RELEASES``) every test parametrized over :data:`RELEASES` runs on each of them.
"""

from __future__ import annotations

import inspect

from lab.sandbox import Sandbox, SandboxHost, rootfs

RELEASES: tuple[str, ...] = tuple(getattr(rootfs, "RELEASES", (rootfs.SUITE,)))


def start_release_host(sandbox: Sandbox, release: str) -> SandboxHost:
    """A fresh host of *release* (kept until ``sandbox.stop_host``)."""
    if "release" in inspect.signature(sandbox.start_host).parameters:
        return sandbox.start_host(release=release)  # type: ignore[call-arg]
    assert release == rootfs.SUITE, f"the lab boots only {rootfs.SUITE} hosts, not {release}"
    return sandbox.start_host()
