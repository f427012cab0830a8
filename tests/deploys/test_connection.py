"""Callbacks that run commands themselves use the inventory's privileges (sudo/su)."""

from __future__ import annotations

from pyinfra.api import Config, Inventory, State

from deploys.connection import privileges


def _host(data: dict) -> tuple[State, object]:
    inventory = Inventory(([("pbs1", data)], {}))
    state = State(inventory, Config())
    return state, inventory.get_host("pbs1")


def test_sudo_from_inventory_data_reaches_callbacks() -> None:
    state, host = _host({"_sudo": True, "_sudo_user": "root"})
    args = privileges(state, host)
    assert args["_sudo"] is True and args["_sudo_user"] == "root"


def test_plain_root_login_asks_for_no_sudo() -> None:
    state, host = _host({})
    assert not privileges(state, host).get("_sudo")


def test_only_privilege_keys_are_passed() -> None:
    state, host = _host({"_sudo": True, "_timeout": 5, "_retries": 3})
    args = privileges(state, host)
    assert "_timeout" not in args and "_retries" not in args
