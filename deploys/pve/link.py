"""``pve_link()``: both sides of the hand-off, in an order that works across hosts."""

from __future__ import annotations

from pyinfra import host

from deploys import schema
from deploys.pbs import context
from deploys.pbs.desired import PBS_GROUPS, PVE_GROUPS
from deploys.pbs.operations import sync_point
from deploys.pbs.steps import namespaces, objects, pbs_access
from deploys.pve.steps import pve_storages


def pve_link() -> None:
    """PBS side first (tokens must exist before PVE uses them), then the PVE side."""
    schema.validate(host)
    if any(g in PBS_GROUPS for g in host.groups):
        objs = objects()
        namespaces(objs)
        pbs_access(objs)
    sync_point(name="All PBS tokens issued", what="tokens issued")  # every host, same line
    if any(g in PVE_GROUPS for g in host.groups):
        pve_storages()
    if not any(g in PBS_GROUPS + PVE_GROUPS for g in host.groups):
        host.noop(f"{context.view(host.name).name}: neither a PBS host nor a PVE node")
