"""Running ``deploys/pbs_host.py`` against the VM with ``inventories/vm.py`` (real pyinfra)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from tests.deploy.sandbox_data import KEYRING, keyring_server
from tests.harness.pyinfra_run import PyinfraResult, run_pyinfra
from tests.vm.harness import Machine, Shell

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventories/vm.py"
DEPLOY = REPO / "deploys/pbs_host.py"
SIMULATORS = REPO / "tests/simulators"
GATEWAY = "10.0.2.2"


def run_deploy(vm: Machine, data: dict[str, Any] | None = None,
               user: str = "root") -> PyinfraResult:
    """One real pyinfra run as *user*; *data* replaces keys of the inventory's host data.

    The Proxmox keyring comes from the TEST-ONLY fixture served on this machine's loopback,
    which the guest reaches as QEMU's gateway 10.0.2.2 (enterprise.proxmox.com is unreachable).
    """
    with keyring_server(address="127.0.0.1") as url:
        port = url.rsplit(":", 1)[1]
        return _run(vm, data, f"http://{GATEWAY}:{port}/{KEYRING.name}", user)


def _run(vm: Machine, data: dict[str, Any] | None, keyring_url: str,
         user: str) -> PyinfraResult:
    env = {"PBS_FLEET_VM_RUN": str(vm.directory), "PBS_FLEET_VM_KEYRING_URL": keyring_url,
           "PBS_FLEET_VM_USER": user}
    if data is not None:
        override = vm.directory / "inventory-data.json"
        override.write_text(json.dumps(data))
        env["PBS_FLEET_VM_DATA"] = str(override)
    else:
        env["PBS_FLEET_VM_DATA"] = ""
    return run_pyinfra(INVENTORY, DEPLOY, env={**os.environ, **env}, timeout=1800)


def install_simulators(shell: Shell) -> list[str]:
    """Copy every executable of tests/simulators to the guest's /usr/local/sbin."""
    names = []
    for path in sorted(SIMULATORS.iterdir()):
        if path.is_file() and path.stat().st_mode & stat.S_IXUSR:
            shell.put(path, f"/usr/local/sbin/{path.name}", mode=0o755)
            names.append(path.name)
    return names
