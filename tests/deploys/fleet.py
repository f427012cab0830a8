"""A three-host fake fleet (local PBS, offsite PBS, one PVE node) for planning tests.

Facts are answered by the simulators' real output shapes through pyinfra's ``@fake``
connector; nothing leaves the process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyinfra
from pyinfra import host
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.operations import run_ops
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_host, ctx_state

from deploys.pbs.operations import sync_point
from deploys.pbs.steps import pbs_config
from deploys.pve.steps import pve_storages

PBS1, PBS2, PVE1 = "@fake/pbs1", "@fake/pbs2", "@fake/pve1"
FP1 = ":".join(["a1"] * 32)
FP2 = ":".join(["b2"] * 32)
SECRET = "c0ffee00-1111-2222-3333-444455556666"


def fleet_data(tmp: Path, **overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    common = {"fake_delay": 0, "fake_delay_jitter": 0, "pbs_version": 3,
              "pbs_secrets_file": str(tmp / "secrets.json"),
              "pbs_report_dir": str(tmp / "reports")}
    data = {
        PBS1: {**common, "pbs_datastores": {"store1": {"namespaces": ["tenant-a"]}},
               "pbs_api_address": "10.0.0.11"},
        PBS2: {**common, "pbs_datastores": {"offsite": {"prune": {"keep_daily": 14,
                                                                   "keep_weekly": 8}}},
               "pbs_api_address": "10.0.0.12",
               "pbs_sync_jobs": [{"remote": PBS1, "remote_store": "store1",
                                  "store": "offsite", "schedule": "hourly",
                                  "rate_in": "100MiB"}]},
        PVE1: {**common, "pve_cluster": "clustera",
               "pve_pbs_storages": [{"pbs": PBS1, "datastore": "store1"}]},
    }
    for name, extra in overrides.items():
        data[name] = {**data[name], **extra}
    return data


def responses(fingerprint: str, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """fake_responses for an empty PBS (or one described by *state*)."""
    state = state or {}
    out = {"list-tokens": json.dumps(state.get("tokens", [])),
           "cert info": fingerprint,
           "generate-token": "Result: " + json.dumps({"tokenid": "x", "value": SECRET},
                                                    indent=2),
           "node show": json.dumps(state.get("node", {}))}
    for kind in ("datastore", "prune-job", "verify-job", "sync-job", "remote", "user", "acl"):
        out[f"manager {kind} list"] = json.dumps(state.get(kind, []))
    return out


@dataclass
class FleetRun:
    state: State
    error: BaseException | None = None
    commands: dict[str, list[str]] = field(default_factory=dict)

    def changing(self, name: str) -> list[str]:
        """Names of the operations that would change host *name* (prepare-time)."""
        h = self.state.inventory.get_host(name)
        ops = self.state.ops[h]
        return [ops[op].global_arguments["name"] for op in self.state.get_op_order()
                if op in ops and ops[op].operation_meta.will_change]


def everything() -> None:
    """pbs_host's PBS step, then the PVE side the way pve_link orders it."""
    if "pve" not in host.groups:
        pbs_config(3)
    sync_point(name="All PBS tokens issued", what="tokens issued")
    if "pve" in host.groups:
        pve_storages()


def pbs_only() -> None:
    """Only the PBS step (PVE hosts untouched)."""
    if "pve" not in host.groups:
        pbs_config(3)


def pbs_only_any_version() -> None:
    """Only the PBS step, with the version from ``pbs_version``."""
    if "pve" not in host.groups:
        pbs_config()


def prepare_like_cli(state: State, func: Callable[[], None]) -> None:
    """Prepare *func* on every host with CLI semantics: operations are identified by their
    call-stack lines (API mode numbers them per host), so cross-host ordering is the real
    one."""
    previous = pyinfra.is_cli
    pyinfra.is_cli = True
    try:
        with ctx_state.use(state):
            for deploy_host in state.inventory.get_active_hosts():
                with ctx_host.use(deploy_host):
                    func()
    finally:
        pyinfra.is_cli = previous


def run_fleet(data: dict[str, dict[str, Any]], resp: dict[str, dict[str, Any]],
              execute: bool = False, func: Callable[[], None] = everything) -> FleetRun:
    hosts = [(name, {**d, "fake_responses": resp[name]}) for name, d in data.items()]
    inventory = Inventory((hosts, {}), pbs=([PBS1], {}), pbs_offsite=([PBS2], {}),
                          pve=([PVE1], {}))
    state = State(inventory, Config())
    connect_all(state)
    run = FleetRun(state)
    try:
        state.set_stage(StateStage.Prepare)
        prepare_like_cli(state, func)
        if execute:
            state.set_stage(StateStage.Execute)
            run_ops(state)
    except Exception as exc:
        run.error = exc
    run.commands = {h.name: list(h.connector.executed_commands) for h in inventory}
    disconnect_all(state)
    return run
