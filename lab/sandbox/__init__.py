"""Sandbox harness: real Debian 12 test hosts (systemd-nspawn in network namespaces).

Public API (see README "Sandbox hosts (the lab)"):

- :class:`Sandbox` — one user of the shared infrastructure; ``start_hosts(n)`` boots hosts.
- :class:`SandboxHost` — a booted host: ``exec``, ``ssh``, ``write_inventory``,
  ``install_fact_overrides``, ``install_simulators``.
- :class:`NetClient` — the allowed / denied client namespaces.
- :func:`host_kernel_snapshot` — kernel-wide sysctls of this machine, to prove they did not move.
- :func:`run_pyinfra` (in ``pyinfra_run``) — pyinfra as a subprocess with the change count.
- :func:`write_inventory` — one inventory for several hosts (``host.inventory_entry(data)``).
"""

from lab.sandbox.config import HarnessError, SandboxUnavailable, require_sandbox
from lab.sandbox.inventory import write_inventory
from lab.sandbox.kernel import host_kernel_snapshot
from lab.sandbox.machine import SandboxHost
from lab.sandbox.netclient import NetClient
from lab.sandbox.pyinfra_run import PyinfraResult, run_pyinfra
from lab.sandbox.session import Sandbox

__all__ = [
    "HarnessError",
    "NetClient",
    "PyinfraResult",
    "Sandbox",
    "SandboxHost",
    "SandboxUnavailable",
    "host_kernel_snapshot",
    "require_sandbox",
    "run_pyinfra",
    "write_inventory",
]
