"""The order of things on a PBS node, and the hardening subset for a whole fleet."""

from __future__ import annotations

from typing import Any, cast

from pyinfra import host

from deploys import schema
from deploys.agent.steps import agent_step, listen_port
from deploys.apt.steps import apt_step
from deploys.audit.steps import audit_step
from deploys.baseline.steps import baseline_step
from deploys.config_backup.steps import config_backup_step
from deploys.conventions import PBS_GROUPS, is_pbs
from deploys.nftables.steps import nftables_step
from deploys.pbs.report import hardening_report
from deploys.pbs.steps import pbs_config_step
from deploys.preflight.steps import preflight
from deploys.ssh.steps import ssh_step
from deploys.sysctl.steps import sysctl_step
from deploys.zfs.steps import zfs_step


def pbs_node() -> None:
    """Everything for a PBS node, in order. PBS configuration needs apt and zfs first."""
    schema.validate(host)
    if not is_pbs(host.groups):
        host.noop(f"not in groups {', '.join(PBS_GROUPS)}: not a PBS node")
        return
    survey = _preflight()
    apt_step(codename=survey["codename"], kernel=survey.get("kernel", ""))
    zfs_step()
    sysctl_step(ram_bytes=survey["mem_total_bytes"])
    nftables_step(agent_port=listen_port(schema.value(host, "agent_settings")))
    ssh_step()
    baseline_step()
    pbs_config_step(pbs_major=survey["pbs_major"])  # ends with the hardening report
    agent_step()
    config_backup_step()
    audit_step()  # only with hardening_audit: after (off by default)


def harden() -> None:
    """The hardening subset for any fleet host: sysctl, nftables, sshd, baseline, then the
    report; with ``hardening_audit: only`` just the audit (nothing else changes), with
    ``after`` both."""
    schema.validate(host)
    if schema.value(host, "hardening_audit") == "only":
        audit_step()
        return
    survey = _preflight()
    sysctl_step(ram_bytes=survey["mem_total_bytes"])
    nftables_step(agent_port=listen_port(schema.value(host, "agent_settings")))
    ssh_step()
    baseline_step()
    hardening_report()
    audit_step()


def _preflight() -> dict[str, Any]:
    """The survey :func:`~deploys.preflight.steps.preflight` returns (pyinfra types the result
    of any ``@deploy`` as ``OperationMeta``; steps are called by keyword for the same reason:
    its signature puts the global ``_sudo``… arguments first)."""
    return cast("dict[str, Any]", preflight())
