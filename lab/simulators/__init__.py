"""SIMULATORS of the PBS / PVE commands the deploys call — stand-ins, NOT Proxmox software.

Each executable file here is a python3 script that lab hosts get as ``/usr/local/sbin/<name>``
(:meth:`lab.sandbox.SandboxHost.install_simulators`, :func:`lab.vm.deploy.install_simulators`):
``proxmox-backup-manager``, ``proxmox-backup-proxy`` (``openssl s_server`` configured like the
real acceptor) and ``pvesm``. ``$PBS_SIMULATOR_ROOT`` re-roots their files for local runs.
Where each behaviour comes from: docs/pbs-config.md ("The simulators").
"""

from __future__ import annotations

import os
from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent


def executables(directory: Path = DIRECTORY) -> list[Path]:
    """The simulators in *directory*: its executable files, by name (none if it is missing)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and os.access(p, os.X_OK))
