"""The deploy as an unprivileged SSH user with sudo (the usual way in), on the rebooted VM.

The other tests connect as root. Here the agent's API token is deleted first (as root, with
the simulator), so this run must create it again as ``deploy`` through sudo: commands that
the deploy's callbacks run themselves must use the inventory's sudo too (found by this tier:
``proxmox-backup-manager: not found`` before deploys/connection.py).
"""

from __future__ import annotations

import pytest

from deploys.pbs.commands import shell_line, token_delete
from lab.vm import Machine, Shell
from lab.vm.deploy import run_deploy

pytestmark = pytest.mark.vm


def test_sudo_user_recreates_token(vm: Machine, guest: Shell) -> None:
    guest.check(shell_line(token_delete("pbs-agent@pbs", "metrics")))
    result = run_deploy(vm, user="deploy")
    result.check()
    assert any("Token pbs-agent@pbs!metrics" in name for name, _ in result.changed)
