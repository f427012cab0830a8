"""Inventory validation: unknown key, wrong type, missing value → one line naming host and key."""

from __future__ import annotations

import pytest

from deploys import schema
from deploys.node import pbs_node
from tests.deploys import fakehost

REG = {
    "alpha": schema.Key(int, default=1, doc="a"),
    "nets": schema.Key(list, default=[], item=str, doc="n"),
    "needed": schema.Key(str, doc="required"),
    "checked": schema.Key(int, default=5, check=lambda v: None if v < 10 else "too big"),
}


def test_clean_data_has_no_problems():
    assert schema.problems({"alpha": 3, "needed": "x", "ssh_port": 22, "_sudo": True},
                           REG) == []


@pytest.mark.parametrize(("data", "expected"), [
    ({"needed": "x", "alpah": 3}, "unknown inventory key 'alpah'"),
    ({"needed": "x", "alpha": "3"}, "inventory key 'alpha': expected int, got str"),
    ({"needed": "x", "alpha": True}, "inventory key 'alpha': expected int, got bool"),
    ({"needed": "x", "nets": ["a", 2]}, "inventory key 'nets': element 1 should be str"),
    ({}, "inventory key 'needed': required value missing"),
    ({"needed": "x", "checked": 12}, "inventory key 'checked': too big"),
])
def test_each_problem_is_named(data, expected):
    found = schema.problems(data, REG)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_connector_and_global_argument_keys_are_not_unknown():
    data = {"needed": "x", "ssh_hostname": "h", "ssh_key": "/k", "_sudo": True,
            "fake_delay": 0}
    assert schema.problems(data, REG) == []


def test_step_modules_register_their_own_keys():
    keys = schema.load_all()
    owners = {k.owner for k in keys.values()}
    assert {"deploys.apt.steps", "deploys.zfs.steps", "deploys.nftables.steps",
            "deploys.agent.steps", "deploys.sysctl.steps", "deploys.preflight.steps",
            "deploys.config_backup.steps"} <= owners


def test_registering_a_key_of_another_owner_is_refused():
    schema.register("tests.deploy.a", {"tests_only_key": schema.Key(int, default=0)})
    try:
        with pytest.raises(ValueError, match=r"by tests\.deploy\.a and tests\.deploy\.b"):
            schema.register("tests.deploy.b", {"tests_only_key": schema.Key(int, default=0)})
    finally:
        schema.REGISTRY.pop("tests_only_key")


def test_value_falls_back_to_registered_default():
    class _Data:
        @staticmethod
        def get(key, default=None):
            return {"config_backup_dir": "/srv/b"}.get(key, default)

    class _Host:
        name = "h"
        data = _Data()

    schema.load_all()
    assert schema.value(_Host, "config_backup_keep") == 30
    assert schema.value(_Host, "config_backup_dir") == "/srv/b"


@pytest.mark.parametrize(("bad", "line"), [
    ({"zfs_poools": []}, "@fake/pbs1: unknown inventory key 'zfs_poools' (see docs/deploy.md)"),
    ({"firewall_ssh_port": "22"},
     "@fake/pbs1: inventory key 'firewall_ssh_port': expected int, got str"),
    ({"firewall_backup_networks": ["10.0.0.0/33"]},
     "@fake/pbs1: inventory key 'firewall_backup_networks': '10.0.0.0/33' is not an IP network"),
])
def test_deploy_stops_before_anything_with_one_line(bad, line):
    run = fakehost.run(pbs_node, fakehost.host_data(**bad), execute=True)
    assert isinstance(run.error, schema.InventoryError)
    message = str(run.error)
    assert "\n" not in message and message.startswith(line), message
    assert run.commands == [] and run.executed is False  # validated before the survey


def test_missing_required_value_stops_the_deploy():
    data = fakehost.host_data()
    del data["firewall_management_networks"]
    run = fakehost.run(pbs_node, data, execute=True)
    assert str(run.error) == ("@fake/pbs1: inventory key 'firewall_management_networks': "
                              "required value missing")
    assert run.commands == []
