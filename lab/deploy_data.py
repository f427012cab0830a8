"""Inventory data and the keyring server for running deploys/pbs_host.py on sandbox hosts.

Shared by the sandbox tests, the benchmark and scripts/demo_sandbox.py. Everything marked
TEST-ONLY here exists because the sandbox cannot reach the Proxmox repository and cannot
show real hardware (see docs/deploy.md "Test-only switches").
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lab.sandbox.config import ALLOWED_NET, BRIDGE_ADDRESS, MANAGEMENT_NET

FIXTURES = Path(__file__).parent / "fixtures"
KEYRING = FIXTURES / "proxmox-release-TEST-ONLY.gpg"
#: Packages the sandbox cannot install (Proxmox repository unreachable; no kernel modules).
SKIPPED_PACKAGES = ["proxmox-backup-server", "zfsutils-linux", "zfs-dkms",
                    "linux-headers-amd64", "proxmox-default-kernel"]
#: Hardware the sandbox cannot show truthfully (TEST-ONLY fact overrides): a healthy host.
HEALTHY_OVERRIDES: dict[str, Any] = {
    "aes_ni": True, "edac": True, "mem_total_bytes": 64 * 1024**3,
    "storage_drivers": ["ahci", "mpt3sas"], "disk_models": [], "nics": {"eno1": 10000},
    "zfs_loaded": True,
}


def keyring_sha512(path: Path = KEYRING) -> str:
    return hashlib.sha512(path.read_bytes()).hexdigest()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass


@contextlib.contextmanager
def keyring_server(directory: Path = FIXTURES,
                   address: str = str(BRIDGE_ADDRESS)) -> Iterator[str]:
    """Serve *directory* over HTTP on *address* (the sandbox bridge); yields the base URL."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer((address, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def pbs_host_data(keyring_base_url: str, **extra: Any) -> dict[str, Any]:
    """Inventory data for one sandbox PBS node (plain literals, as write_inventory needs)."""
    return {
        "firewall_management_networks": [str(MANAGEMENT_NET)],
        "firewall_backup_networks": [str(ALLOWED_NET)],
        "firewall_prometheus_networks": [f"{BRIDGE_ADDRESS}/32"],
        "apt_proxmox_keyring_url": f"{keyring_base_url}/{KEYRING.name}",
        "apt_proxmox_keyring_sha512": keyring_sha512(),
        "zfs_module": "present",
        "test_only_skip_packages": list(SKIPPED_PACKAGES),
        "test_only_proxmox_sources_inactive": True,
        "test_only_sysctl_skip_unsettable": True,
        **extra,
    }
