"""Running ``deploys/pbs_host.py`` against the VM with ``inventories/vm.py`` (real pyinfra)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from deploys.agent.package import default_deb
from lab import simulators
from lab.deploy_data import KEYRING, keyring_server
from lab.pbs_setup import MAKE_CERT, PROXY_UNIT, PROXY_UNIT_PATH, START_PROXY
from lab.sandbox.pyinfra_run import PyinfraResult, run_pyinfra
from lab.vm import Machine, Shell, VmError

REPO = Path(__file__).resolve().parents[2]
#: What a deploy run reads from the checkout (frozen per session, see :func:`freeze`); besides
#: these trees, ``pyproject.toml`` (the agent's version) and the agent's ``.deb`` from ``make deb``.
CHECKOUT_PARTS = ("deploys", "templates", "inventories", "pbs_agent", "lab/fixtures")
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
    frozen = freeze(vm.directory / "checkout")
    env = {"PBS_FLEET_VM_RUN": str(vm.directory), "PBS_FLEET_VM_KEYRING_URL": keyring_url,
           "PBS_FLEET_VM_USER": user}
    if data is not None:
        override = vm.directory / "inventory-data.json"
        override.write_text(json.dumps(data))
        env["PBS_FLEET_VM_DATA"] = str(override)
    else:
        env["PBS_FLEET_VM_DATA"] = ""
    return run_pyinfra(frozen / "inventories/vm.py", frozen / "deploys/pbs_host.py",
                       cwd=frozen, env={**os.environ, **env}, timeout=1800)


def freeze(target: Path) -> Path:
    """A copy of the deploy, templates, inventory and agent, made once per VM session.

    In a shared checkout other people edit these between two runs; a copy keeps "the second
    run changes nothing" about the deploy, not about their edits.
    """
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        for part in CHECKOUT_PARTS:
            shutil.copytree(REPO / part, target / part,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        deb = default_deb(REPO)
        if not deb.is_file():
            raise VmError(f"{deb}: no agent package to deploy; build it with `make deb`")
        for path in (REPO / "pyproject.toml", deb):
            copy = target / path.relative_to(REPO)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
        (target / ".complete").touch()
    return target


def prepare_pbs(shell: Shell) -> list[str]:
    """The PBS simulators in the guest: commands, a self-signed certificate (as PBS's postinst
    makes one) and the proxy simulator as ``proxmox-backup-proxy.service`` on 8007."""
    names = install_simulators(shell)
    if shell.run("systemctl is-active proxmox-backup-proxy").status != 0:
        shell.check(MAKE_CERT)
        with shell.client.open_sftp() as sftp, sftp.open(PROXY_UNIT_PATH, "w") as unit:
            unit.write(PROXY_UNIT)
        shell.check(START_PROXY)
    return names


def install_simulators(shell: Shell) -> list[str]:
    """Copy every executable of lab/simulators to the guest's /usr/local/sbin."""
    names = []
    for path in simulators.executables():
        shell.put(path, f"/usr/local/sbin/{path.name}", mode=0o755)
        names.append(path.name)
    return names
