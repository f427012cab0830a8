"""``pve_link()``: both sides of the hand-off, in an order that works across hosts."""

from __future__ import annotations

from pyinfra import host

from deploys.pbs import context
from deploys.pbs.desired import PBS_GROUPS, PVE_GROUPS
from deploys.pbs.operations import sync_point
from deploys.pbs.steps import namespaces, objects, pbs_access, pbs_config
from deploys.pve.steps import pve_storages


def pve_link() -> None:
    """PBS side first (tokens must exist before PVE uses them), then the PVE side."""
    context.validate_for_config()
    if any(g in PBS_GROUPS for g in host.groups):
        objs = objects()
        namespaces(objs)
        pbs_access(objs)
    sync_point(name="All PBS tokens issued", what="tokens issued")  # every host, same line
    if any(g in PVE_GROUPS for g in host.groups):
        pve_storages()
    if not any(g in PBS_GROUPS + PVE_GROUPS for g in host.groups):
        host.noop(f"{context.view(host.name).name}: neither a PBS host nor a PVE node")


def pbs_config_and_link() -> None:
    """PBS configuration on PBS hosts, then the PVE storages (hosts already provisioned)."""
    context.validate_for_config()
    if any(g in PBS_GROUPS for g in host.groups):
        pbs_config()
    sync_point(name="PBS hosts configured", what="PBS configured")  # every host, same line
    if any(g in PVE_GROUPS for g in host.groups):
        pve_storages()
