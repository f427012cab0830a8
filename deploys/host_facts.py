"""HostSurvey: everything preflight needs, gathered in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyinfra.api import FactBase

from deploys import fact_overrides as overrides

_STORAGE_PCI_DRIVERS = ("megaraid_sas", "mpt3sas", "mpt2sas", "hpsa", "smartpqi", "aacraid",
                        "mpi3mr", "ahci", "nvme", "virtio_scsi")

_SCRIPT = (Path(__file__).with_name("host_survey.sh").read_text()
           .replace("$STORAGE_DRIVERS", " ".join(_STORAGE_PCI_DRIVERS)))

_BOOLS = ("aes_ni", "edac", "zfs_loaded", "headers", "headers_available")


def parse(lines: list[str]) -> dict[str, Any]:
    """Turn the survey's ``key=value`` lines into a typed dict (lists for repeated keys)."""
    survey: dict[str, Any] = {"storage_drivers": [], "disk_models": [], "nics": {}}
    for line in lines:
        key, sep, raw = line.partition("=")
        if not sep:
            continue
        if key == "storage_driver":
            if raw not in survey["storage_drivers"]:
                survey["storage_drivers"].append(raw)
        elif key == "disk_model":
            survey["disk_models"].append(raw.strip())
        elif key == "nic":
            name, _, speed = raw.partition(" ")
            survey["nics"][name] = int(speed) if speed.lstrip("-").isdigit() else -1
        elif key in _BOOLS:
            survey[key] = raw.strip() == "1"
        elif key == "mem_total_kib":
            survey["mem_total_bytes"] = int(raw) * 1024 if raw.strip().isdigit() else 0
        else:
            survey[key] = raw.strip()
    return survey


class HostSurvey(FactBase[dict[str, Any]]):
    """Architecture, OS, CPU, RAM, ECC, controllers, NICs and ZFS module state in one go.

    Values from the TEST-ONLY file ``/etc/pbs-fleet/fact-overrides.json`` replace measured ones;
    their names are listed under ``"overridden"``.

    **Example:**

    .. code:: python

        host.get_fact(HostSurvey)
        # {"arch": "amd64", "os_id": "debian", "os_version": "12", "aes_ni": True,
        #  "mem_total_bytes": 68719476736, "storage_drivers": ["ahci"], "nics": {"eno1": 10000},
        #  "kernel": "6.1.0-28-amd64", "zfs_loaded": True, …, "overridden": []}
    """

    @staticmethod
    def default() -> dict[str, Any]:
        return {}

    def command(self) -> str:
        return _SCRIPT + overrides.shell_snippet()

    def process(self, output: list[str]) -> dict[str, Any]:
        lines, override = overrides.split(output)
        survey = parse(lines)
        applied = sorted(k for k in override if k not in ("disks", "zfs"))
        for k in applied:
            survey[k] = override[k]
        survey["overridden"] = applied
        return survey


class SshConnection(FactBase[dict[str, Any]]):
    """The deploy's own SSH session as the target sees it (``$SSH_CONNECTION``).

    Read without sudo (sudo drops the variable). Empty dict for non-SSH connectors.

    **Example:**

    .. code:: python

        host.get_fact(SshConnection, _sudo=False)
        # {"client": "10.231.0.1", "client_port": 51234, "server": "10.231.0.10", "port": 22}
    """

    @staticmethod
    def default() -> dict[str, Any]:
        return {}

    def command(self) -> str:
        return 'echo "ssh_connection=${SSH_CONNECTION:-}"'

    def process(self, output: list[str]) -> dict[str, Any]:
        for line in output:
            if line.startswith("ssh_connection="):
                parts = line.split("=", 1)[1].split()
                if len(parts) == 4 and parts[1].isdigit() and parts[3].isdigit():
                    return {"client": parts[0], "client_port": int(parts[1]),
                            "server": parts[2], "port": int(parts[3])}
        return {}
