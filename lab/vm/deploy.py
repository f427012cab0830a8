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
from lab.pbs_setup import MAKE_CERT, PROXY_UNIT, PROXY_UNIT_PATH, SIMULATED_PBS, START_PROXY
from lab.sandbox.pyinfra_run import PyinfraResult, run_pyinfra
from lab.vm import Machine, Shell, VmError

REPO = Path(__file__).resolve().parents[2]
#: What a deploy run reads from the checkout (frozen per session, see :func:`freeze`); besides
#: these trees, ``pyproject.toml`` (the agent's version) and the agent's ``.deb`` from ``make deb``.
CHECKOUT_PARTS = ("deploys", "templates", "inventories", "pbs_agent", "lab/fixtures")
GATEWAY = "10.0.2.2"
API_UNIT_PATH = "/etc/systemd/system/proxmox-backup.service"
#: PBS's API daemon listens on 127.0.0.1:82; this stand-in only answers there (nothing of the
#: deploy talks to it: the upgrade's post-checks see the unit active, as on a PBS host).
API_UNIT = """[Unit]
Description=SIMULATOR of proxmox-backup (API daemon on 127.0.0.1:82, pbs-fleet VM tier)
[Service]
ExecStart=/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory /etc/pbs-simulator 82
Restart=always
[Install]
WantedBy=multi-user.target
"""
PACKAGE_UPGRADE_HOOK_PATH = "/etc/apt/apt.conf.d/99pbs-simulator-upgrade"
PACKAGE_UPGRADE_HOOK = (
    "// TEST-ONLY (pbs-fleet VM tier): stands in for proxmox-backup-server's own upgrade.\n"
    "DPkg::Post-Invoke { \"grep -q '^13' /etc/debian_version && "
    f"echo {SIMULATED_PBS['13']} > /etc/pbs-simulator/version || true\"; }};\n")


def run_deploy(vm: Machine, data: dict[str, Any] | None = None, user: str = "root",
               deploy: str = "pbs_host.py", timeout: float = 1800) -> PyinfraResult:
    """One real pyinfra run of ``deploys/<deploy>`` as *user*; *data* replaces keys of the
    inventory's host data.

    The Proxmox keyring comes from the TEST-ONLY fixture served on this machine's loopback,
    which the guest reaches as QEMU's gateway 10.0.2.2 (enterprise.proxmox.com is unreachable).
    """
    with keyring_server(address="127.0.0.1") as url:
        port = url.rsplit(":", 1)[1]
        return _run(vm, data, f"http://{GATEWAY}:{port}/{KEYRING.name}", user, deploy, timeout)


def _run(vm: Machine, data: dict[str, Any] | None, keyring_url: str, user: str, deploy: str,
         timeout: float) -> PyinfraResult:
    frozen = freeze(vm.directory / "checkout")
    env = {"PBS_FLEET_VM_RUN": str(vm.directory), "PBS_FLEET_VM_KEYRING_URL": keyring_url,
           "PBS_FLEET_VM_USER": user}
    if data is not None:
        override = vm.directory / "inventory-data.json"
        override.write_text(json.dumps(data))
        env["PBS_FLEET_VM_DATA"] = str(override)
    else:
        env["PBS_FLEET_VM_DATA"] = ""
    return run_pyinfra(frozen / "inventories/vm.py", frozen / "deploys" / deploy,
                       cwd=frozen, env={**os.environ, **env}, timeout=timeout)


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


def prepare_upgrade_stand_ins(shell: Shell) -> None:
    """What a PBS 3 host has and the simulators lack, for the real 12 → 13 upgrade: the API
    daemon's unit (``proxmox-backup.service``, the SIMULATOR's stand-in on 127.0.0.1:82) and
    an apt hook that plays ``proxmox-backup-server``'s own upgrade: once the full upgrade has
    made ``/etc/debian_version`` 13, the SIMULATOR plays PBS 4 (:data:`SIMULATED_PBS`)."""
    with shell.client.open_sftp() as sftp:
        with sftp.open(API_UNIT_PATH, "w") as unit:
            unit.write(API_UNIT)
        with sftp.open(PACKAGE_UPGRADE_HOOK_PATH, "w") as hook:
            hook.write(PACKAGE_UPGRADE_HOOK)
    shell.check(f"mkdir -p /etc/pbs-simulator && echo {SIMULATED_PBS['12']} "
                "> /etc/pbs-simulator/version && systemctl daemon-reload && "
                "systemctl enable --now proxmox-backup.service")


def install_simulators(shell: Shell) -> list[str]:
    """Copy every executable of lab/simulators to the guest's /usr/local/sbin."""
    names = []
    for path in simulators.executables():
        shell.put(path, f"/usr/local/sbin/{path.name}", mode=0o755)
        names.append(path.name)
    return names
