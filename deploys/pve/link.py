"""``pve_link()``: both sides of the hand-off, in an order that works across hosts."""

from __future__ import annotations

from pyinfra import host

from deploys.conventions import is_pbs, is_pve
from deploys.pbs import context
from deploys.pbs.operations import sync_point
from deploys.pbs.steps import namespaces, objects, pbs_access, pbs_config
from deploys.pve.steps import pve_storages


def pve_link() -> None:
    """PBS side first (tokens must exist before PVE uses them), then the PVE side."""
    context.validate_for_config()
    if is_pbs(host.groups):
        objs = objects()
        namespaces(objs)
        pbs_access(objs)
    sync_point(name="All PBS tokens issued", what="tokens issued")  # every host, same line
    if is_pve(host.groups):
        pve_storages()
    if not is_pbs(host.groups) and not is_pve(host.groups):
        host.noop(f"{context.view(host.name).name}: neither a PBS host nor a PVE node")


def pbs_config_and_link() -> None:
    """PBS configuration on PBS hosts, then the PVE storages (hosts already provisioned)."""
    context.validate_for_config()
    if is_pbs(host.groups):
        pbs_config()
    sync_point(name="PBS hosts configured", what="PBS configured")  # every host, same line
    if is_pve(host.groups):
        pve_storages()
