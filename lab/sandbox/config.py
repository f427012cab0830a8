"""Paths, names and the network plan of the sandbox, plus the harness's error types.

Everything the harness creates on this machine carries the ``pf-`` prefix, so cleanup only
ever touches our own objects.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

PREFIX = "pf-"
BRIDGE = "pf-br0"
# One /16 on the bridge, split by purpose so nftables rules on a target can filter by prefix.
LAN = ipaddress.IPv4Network("10.231.0.0/16")
BRIDGE_ADDRESS = ipaddress.IPv4Address("10.231.0.1")  # this machine: the deploy's SSH source
MANAGEMENT_NET = ipaddress.IPv4Network("10.231.0.0/24")  # this machine + the sandbox hosts
ALLOWED_NET = ipaddress.IPv4Network("10.231.1.0/24")  # the "allowed" client network
DENIED_NET = ipaddress.IPv4Network("10.231.2.0/24")  # the "denied" client network
FIRST_HOST_INDEX = 10  # hosts are 10.231.0.10, .11, …
MAX_HOSTS = 200
# inotify instances one booted host holds (systemd 3, dbus 1, logind 1); all hosts share
# this machine's fs.inotify.max_user_instances, which the harness never raises.
INOTIFY_PER_HOST = 5
APT_PROXY_PORT = 3142
APT_PROXY_URL = f"http://{BRIDGE_ADDRESS}:{APT_PROXY_PORT}"


class HarnessError(RuntimeError):
    """A sandbox step failed; the message names the step and the reason."""


class SandboxUnavailable(HarnessError):
    """This machine cannot run sandbox hosts (not root, no systemd-nspawn, …)."""


@dataclass(frozen=True)
class Paths:
    """Where the harness keeps its cache (survives runs) and its state (this boot only)."""

    cache: Path
    state: Path

    @classmethod
    def from_env(cls) -> Paths:
        """``$PBS_FLEET_CACHE`` (default /var/cache/pbs-fleet), ``$PBS_FLEET_STATE``."""
        cache = Path(os.environ.get("PBS_FLEET_CACHE", "/var/cache/pbs-fleet"))
        state = Path(os.environ.get("PBS_FLEET_STATE", "/var/lib/pbs-fleet"))
        return cls(cache=cache, state=state)

    @property
    def hosts(self) -> Path:
        return self.state / "hosts"

    @property
    def sessions(self) -> Path:
        return self.state / "sessions"

    @property
    def lock(self) -> Path:
        return self.state / "lock"

    @property
    def ssh_key(self) -> Path:
        return self.state / "ssh" / "id_ed25519"

    @property
    def apt_proxy(self) -> Path:
        return self.state / "apt-cacher-ng"


REQUIRED_TOOLS = ("ip", "systemd-nspawn", "nsenter", "debootstrap", "zstd", "tar",
                  "ssh-keygen", "apt-cacher-ng", "mount", "umount")


def require_sandbox() -> None:
    """Raise :class:`SandboxUnavailable` naming what is missing on this machine."""
    if os.geteuid() != 0:
        raise SandboxUnavailable(f"sandbox hosts need root (euid is {os.geteuid()})")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise SandboxUnavailable(
            "sandbox hosts need these commands, missing: " + ", ".join(missing)
            + " (run scripts/bootstrap.sh: Debian packages systemd-container, debootstrap, "
            "apt-cacher-ng, zstd, iproute2, openssh-client)")
    if not Path("/proc/self/ns/net").exists():
        raise SandboxUnavailable("this kernel has no network namespaces")


def host_address(index: int) -> ipaddress.IPv4Address:
    """Address of sandbox host number *index* (0-based)."""
    if not 0 <= index < MAX_HOSTS:
        raise HarnessError(f"host index {index} outside 0..{MAX_HOSTS - 1}")
    return MANAGEMENT_NET.network_address + FIRST_HOST_INDEX + index
