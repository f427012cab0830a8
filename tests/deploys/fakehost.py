"""Plan and run deploys against pyinfra ``@fake`` hosts, in process (no SSH, no changes).

Facts are answered from fixture data through ``fake_responses`` (first substring match wins;
unmatched commands succeed with no output), so every planning decision of the deploy code is
exercised exactly as on a real host.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.deploy import add_deploy
from pyinfra.api.operations import run_ops
from pyinfra.api.state import StateStage

GIB_KIB = 1024 * 1024

#: A healthy PBS host as the survey script would describe it.
GOOD_SURVEY: dict[str, Any] = {
    "arch": "amd64", "os_id": "debian", "os_version": "12", "os_codename": "bookworm",
    "aes_ni": "1", "mem_total_kib": str(64 * GIB_KIB), "edac": "1",
    "storage_driver": ["ahci", "mpt3sas"], "nic": ["eno1 10000"],
    "kernel": "6.1.0-28-amd64", "zfs_loaded": "1", "zfs_modinfo": "2.1.11-1", "headers": "1",
    "dkms": "",
}
CONTROLLER = "192.0.2.9"


def survey_output(**changes: Any) -> str:
    """Survey script output: GOOD_SURVEY with *changes* (None removes a key)."""
    merged = {**GOOD_SURVEY, **changes}
    lines = []
    for key, value in merged.items():
        if value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"{key}={v}")
    return "\n".join(lines)


FAKE_AGENT_VERSION = "0.0.0+plan"


@functools.cache
def fake_agent_deb() -> str:
    """A tiny but real ``pbs-agent`` .deb (dpkg-deb --build, no files) for planning: the
    deploy reads its name, version and checksum; nothing installs it."""
    root = Path(tempfile.mkdtemp(prefix="pbs-fleet-fake-deb-"))
    (root / "pkg" / "DEBIAN").mkdir(parents=True)
    (root / "pkg" / "DEBIAN" / "control").write_text(
        f"Package: pbs-agent\nVersion: {FAKE_AGENT_VERSION}\nArchitecture: all\n"
        "Maintainer: tests <tests@pbs-fleet.example>\nDescription: planning stand-in\n")
    deb = root / f"pbs-agent_{FAKE_AGENT_VERSION}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root / "pkg"), str(deb)],
                   check=True, capture_output=True)
    return str(deb)


def host_data(survey: str | None = None, responses: dict[str, Any] | None = None,
              **data: Any) -> dict[str, Any]:
    """Inventory data for one fake host: fixture facts + deploy settings (the agent package
    is :func:`fake_agent_deb` unless *data* names one)."""
    fake = {
        "mem_total_kib": survey if survey is not None else survey_output(),
        "ssh_connection=": f"ssh_connection={CONTROLLER} 40000 192.0.2.10 22",
        "uname -s": "Linux",
        "command -v useradd": "/usr/sbin/useradd",
        "sshd-version=": "sshd-version=1:9.2p1-2+deb12u3",  # Debian 12's openssh-server
        **(responses or {}),
    }
    # PBS itself is not "installed" on a fake host: its configuration step (deploys/pbs,
    # tested with its simulator elsewhere) skips itself under this TEST-ONLY switch.
    return {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": fake,
            "firewall_management_networks": ["192.0.2.0/24"],
            "test_only_skip_packages": ["proxmox-backup-server"],
            "agent_deb": fake_agent_deb(), **data}


@dataclass
class FakeRun:
    """What a deploy did on the fake host: op names (in order) and executed commands."""

    state: State
    error: BaseException | None = None
    commands: list[str] = field(default_factory=list)
    executed: bool = False  # did the execute phase start (i.e. could anything change)?

    @property
    def host(self):
        return next(iter(self.state.inventory))

    def op_names(self) -> list[str]:
        order = self.state.get_op_order()
        return [sorted(self.state.op_meta[h].names)[0] for h in order]

    def changing_ops(self) -> list[str]:
        out = []
        for op_hash in self.state.get_op_order():
            op = self.state.ops[self.host].get(op_hash)
            if op is not None and op.operation_meta.will_change:
                out.append(sorted(self.state.op_meta[op_hash].names)[0])
        return out


def run(func: Callable[[], Any], data: dict[str, Any], groups: tuple[str, ...] = ("pbs",),
        execute: bool = False) -> FakeRun:
    """Prepare (and with *execute*, run) *func* on one fake host in *groups*.

    Exceptions from prepare (DeployError, InventoryError, OperationError) are captured in
    ``FakeRun.error``; nothing is executed then.
    """
    name = "@fake/pbs1"
    inventory = Inventory(([(name, data)], {}), **{g: ([name], {}) for g in groups})
    state = State(inventory, Config())
    connect_all(state)
    result = FakeRun(state)
    try:
        state.set_stage(StateStage.Prepare)
        add_deploy(state, func)
        if execute:
            state.set_stage(StateStage.Execute)
            result.executed = True
            run_ops(state)
    except Exception as exc:
        result.error = exc
    result.commands = list(result.host.connector.executed_commands)
    disconnect_all(state)
    return result
