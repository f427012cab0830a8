"""Sandbox harness: real Debian 12 test hosts (systemd-nspawn in network namespaces).

Public API (see README "Sandbox hosts (test harness)"):

- :class:`Sandbox` — one user of the shared infrastructure; ``start_hosts(n)`` boots hosts.
- :class:`SandboxHost` — a booted host: ``exec``, ``ssh``, ``write_inventory``,
  ``install_fact_overrides``, ``install_simulators``.
- :class:`NetClient` — the allowed / denied client namespaces.
- :func:`host_kernel_snapshot` — kernel-wide sysctls of this machine, to prove they did not move.
- :func:`run_pyinfra` (in ``pyinfra_run``) — pyinfra as a subprocess with the change count.
- :func:`write_inventory` — one inventory for several hosts (``host.inventory_entry(data)``).
"""

from tests.harness.config import HarnessError, SandboxUnavailable, require_sandbox
from tests.harness.inventory import write_inventory
from tests.harness.kernel import host_kernel_snapshot
from tests.harness.machine import SandboxHost
from tests.harness.netclient import NetClient
from tests.harness.pyinfra_run import PyinfraResult, run_pyinfra
from tests.harness.session import Sandbox

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
