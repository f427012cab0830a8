"""The PBS 3 → 4 upgrade of ONE host (opt-in): preflight, keyring, sources, full upgrade,
reboot, post-checks. Any failed precondition stops the run before anything changes, with one
line per failure; after that, pyinfra stops at the first failing operation (stop and report).
"""

from __future__ import annotations

from typing import Any

from pyinfra import host, state
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import server

from deploys import schema
from deploys.apt.operations import pinned_keyring
from deploys.apt.steps import keyring_for
from deploys.major_upgrade import operations, plan
from deploys.major_upgrade.facts import UpgradeSurvey

GIB = 1 << 30

KEYS = schema.register(__name__, {
    "upgrade_pbs_to": schema.Key(
        (int, type(None)), default=None,
        check=lambda v: None if v in (None, 4) else "only 4 (PBS 3 on Debian 12 -> PBS 4)",
        doc="Opt-in for deploys/upgrade.py: 4 upgrades this host from PBS 3 / Debian 12 to "
            "PBS 4 / Debian 13 (one host per run: --limit HOST). None: the upgrade refuses."),
    "upgrade_min_free_gib": schema.Key(
        int, default=10, doc="Refuse the upgrade with less free space on / (GiB)."),
    "upgrade_max_backup_age_hours": schema.Key(
        int, default=24, doc="Refuse the upgrade if the newest PBS config backup "
                             "(config_backup_dir) is older than this."),
})

#: Debian's full upgrade, non-interactive, keeping the admin's changed config files.
FULL_UPGRADE = ("DEBIAN_FRONTEND=noninteractive apt-get -y -q "
                "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "
                "full-upgrade")

#: zfs-dkms needs the new kernel's headers to build its module for it; a host that has only the
#: running kernel's (installed by hand, or by an image) gets the meta-package that follows the
#: kernel.
DKMS_HEADERS = ("if dpkg-query -W -f='${Status}' zfs-dkms 2>/dev/null | grep -q ' installed$'; "
                "then DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-headers-amd64; fi")


def preflight() -> dict[str, Any]:
    """The survey; DeployError listing every failed precondition (nothing changed yet)."""
    if schema.value(host, "upgrade_pbs_to") != 4:
        raise DeployError(f"{host.name}: upgrade not enabled: set upgrade_pbs_to = 4 for this "
                          "host (and run it alone: --limit HOST)")
    active = state.activated_hosts or set(state.inventory)
    if len(active) > 1:
        raise DeployError(f"{host.name}: the upgrade runs on one host at a time, this run has "
                          f"{len(active)}: use --limit HOST")
    survey = host.get_fact(UpgradeSurvey, backup_dir=schema.value(host, "config_backup_dir"))
    problems = plan.refusals(survey,
                             max_backup_age=schema.value(host, "upgrade_max_backup_age_hours")
                             * 3600,
                             min_free=schema.value(host, "upgrade_min_free_gib") * GIB)
    if problems:
        raise DeployError(f"{host.name}: upgrade refused, nothing changed:\n  "
                          + "\n  ".join(problems))
    return survey


@deploy("PBS 3 -> 4 upgrade")
def upgrade() -> None:
    """Preflight, trixie keyring, sources (all or none), full upgrade, the new kernel's ZFS
    module, reboot, post-checks once the boot has finished."""
    schema.validate(host)
    survey = preflight()
    url, sha512 = keyring_for("trixie", schema.value(host, "apt_proxmox_keyring_url"),
                              schema.value(host, "apt_proxmox_keyring_sha512"))
    pinned_keyring(name="Proxmox trixie keyring (pinned)", url=url, sha512=sha512,
                   dest="/etc/apt/keyrings/proxmox-release-trixie.gpg")
    operations.switch_suite(name="Apt sources bookworm -> trixie (all or none)",
                            files=sorted(survey.get("source_bookworm", [])))
    server.shell(name="Apt update (trixie)", commands=["apt-get update -q"])
    server.shell(name="Full upgrade to Debian 13 / PBS 4", commands=[FULL_UPGRADE])
    server.shell(name="Headers of the new kernel for DKMS (zfs-dkms)", commands=[DKMS_HEADERS])
    operations.zfs_module_for_next_kernel(name="ZFS module for the kernel the reboot starts")
    server.reboot(name="Reboot into the trixie kernel", reboot_timeout=900)
    server.shell(name="Wait for the boot to finish", commands=[operations.WAIT_BOOT])
    operations.post_checks(name="Post-upgrade checks (Debian 13, PBS 4, services, "
                                "datastores, pools, firewall, agent)")
