"""The real Debian 12 → 13 upgrade (``deploys/upgrade.py``) of a guest provisioned by
``deploys/pbs_host.py``, on the real kernel, with real ZFS: marker ``vm_upgrade``
(``make test-vm-upgrade``; more than an hour under TCG, so not in ``make test-vm``).

A Debian 12 guest of its own (the bookworm image, whatever ``$PBS_FLEET_VM_SUITE`` says) with
the deploy's mirror + special-mirror pool on four disks and Debian's ``zfs-dkms``, its module
prebuilt in the image (the tier's ``zfs_module = "present"``); the PBS SIMULATORS stand in
for PBS (see :func:`lab.vm.deploy.prepare_upgrade_stand_ins`). DKMS builds ``zfs.ko`` inside
the guest for the trixie kernel only: one build of OpenZFS under TCG takes about an hour here,
so the guest keeps no headers for its running 6.1 kernel (otherwise trixie's ``zfs-dkms``
would first rebuild for the kernel about to be replaced); the upgrade installs the headers
that follow the new kernel itself (``linux-headers-amd64``, as it does on any host with
``zfs-dkms``).
The upgrade switches the apt sources to trixie, runs the full upgrade from Debian's mirror,
reboots; :class:`lab.vm.bootloader.KernelFollower` boots the newest kernel in the guest's
``/boot`` as GRUB would. Then: Debian 13 on the trixie kernel, pool, datastore mount,
firewall, sysctl, agent back, and ``deploys/pbs_host.py`` changes nothing.

Wall times of each stage go to the tier's summary (``last-run.json``) and docs/benchmarks.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from deploys.sysctl.steps import DEFAULT_SYSCTL
from lab.sandbox.pyinfra_run import PyinfraResult
from lab.vm import (
    DISK_SERIALS,
    Machine,
    Paths,
    Shell,
    VmUnavailable,
    ensure_image,
    require_vm_tools,
)
from lab.vm.bootloader import KernelFollower
from lab.vm.deploy import prepare_pbs, prepare_upgrade_stand_ins, run_deploy
from tests.vm.records import TIMINGS

#: Four hours: image build on a cold cache, two DKMS builds of ZFS inside a TCG guest.
pytestmark = [pytest.mark.vm_upgrade, pytest.mark.timeout(4 * 3600)]

POOL, STORE = "backup", "store1"
MOUNT = f"/mnt/datastore/{STORE}"
#: The tier's inventory as it is (``zfs_module = "present"``: the image's prebuilt module).
NODE: dict[str, object] = {}
#: The guest's root is 10 GiB (lab/vm/image.py IMAGE_SIZE); the deploy's default asks for 10
#: free, which a real PBS host has; this guest has about 7 and the upgrade needs about 3.
UPGRADE = {**NODE, "upgrade_pbs_to": 4, "upgrade_min_free_gib": 4}


@dataclass
class Upgraded:
    machine: Machine
    follower: KernelFollower
    before: dict[str, str]
    upgrade: PyinfraResult
    provision: PyinfraResult


def _stage(name: str, started: float) -> float:
    now = time.monotonic()
    TIMINGS[f"upgrade: {name}"] = now - started
    return now


def _facts(shell: Shell) -> dict[str, str]:
    return {"os": shell.check(". /etc/os-release && echo $VERSION_ID").strip(),
            "kernel": shell.check("uname -r").strip(),
            "zfs": shell.check("cat /sys/module/zfs/version").strip()}


@pytest.fixture(scope="module")
def upgraded() -> Iterator[Upgraded]:
    """Provision a Debian 12 guest, upgrade it to 13 for real, come back on the new kernel."""
    try:
        require_vm_tools()
    except VmUnavailable as exc:
        pytest.skip(f"real-kernel tier unavailable: {exc}")
    paths = Paths.from_env()
    t = time.monotonic()
    image = ensure_image(paths, suite="bookworm")
    t = _stage("image bookworm (build or reuse)", t)
    machine = Machine(image, paths.state / f"upgrade-{time.strftime('%Y%m%dT%H%M%S')}",
                      disks=DISK_SERIALS[:4], reboot_exits=True)
    machine.prepare()
    try:
        machine.start()
        t = _stage("boot Debian 12 to SSH", t)
        with machine.shell() as shell:
            prepare_pbs(shell)
            prepare_upgrade_stand_ins(shell)
        provision = run_deploy(machine, NODE).check()
        with machine.shell() as shell:
            # The config backup the preflight asks for (its timer runs daily).
            shell.check("systemctl start pbs-config-backup.service")
            before = _facts(shell)
            # No rebuild of zfs.ko for the kernel about to be replaced (see the module doc).
            shell.check("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "
                        f"linux-headers-{before['kernel']} "
                        f"linux-headers-{before['kernel'].removesuffix('-amd64')}-common")
        t = _stage("provision (pbs_host.py on Debian 12)", t)
        with KernelFollower(machine) as follower:
            upgrade = run_deploy(machine, UPGRADE, deploy="upgrade.py", timeout=3 * 3600)
            follower.check()
            if follower.boots:
                boot = follower.boots[0]
                TIMINGS["upgrade: preflight, sources, full upgrade, DKMS, until QEMU ended"] = \
                    boot.exited - t
                TIMINGS["upgrade: guest kernel copied out, QEMU started on it"] = \
                    boot.started - boot.exited
                TIMINGS["upgrade: boot on the new kernel, post-checks (to the end of the run)"] \
                    = time.monotonic() - boot.started
            t = _stage("upgrade.py in all", t)
            yield Upgraded(machine, follower, before, upgrade, provision)
    finally:
        machine.stop()


@pytest.fixture(scope="module")
def after(upgraded: Upgraded) -> Iterator[Shell]:
    upgraded.upgrade.check()
    with upgraded.machine.shell() as shell:
        yield shell


def test_upgrade_deploy_succeeds_with_one_reboot(upgraded: Upgraded) -> None:
    result = upgraded.upgrade.check()
    assert result.changed_ops and result.changed_ops > 0
    assert len(upgraded.follower.boots) == 1, upgraded.follower.boots


def test_debian_13_on_the_trixie_kernel(upgraded: Upgraded, after: Shell) -> None:
    assert upgraded.before["os"] == "12"
    now = _facts(after)
    assert now["os"] == "13"
    assert now["kernel"] != upgraded.before["kernel"]
    assert now["kernel"] == upgraded.follower.boots[0].version
    assert "+deb13-" in now["kernel"], now["kernel"]
    # The module loaded is the one DKMS built from trixie's zfs-dkms for this kernel.
    assert now["zfs"] == after.check(f"modinfo -k {now['kernel']} -F version zfs").strip()
    assert now["zfs"].startswith("2.3"), now


def test_pool_imported_and_datastore_mounted(after: Shell) -> None:
    assert after.check(f"zpool list -H -o health {POOL}").strip() == "ONLINE"
    assert after.check("zpool status -x").strip() == "all pools are healthy"
    source, fstype = after.check(f"findmnt -n -o SOURCE,FSTYPE {MOUNT}").split()
    assert (source, fstype) == (f"{POOL}/{STORE}", "zfs")


def test_firewall_sysctl_agent_back(after: Shell) -> None:
    assert after.check("systemctl is-active nftables").strip() == "active"
    assert "dropped by policy" in after.check("nft list table inet pbs_fleet")
    for key, want in DEFAULT_SYSCTL.items():
        assert " ".join(after.check(f"sysctl -n {key}").split()) == str(want), key
    assert after.run("systemctl is-active pbs-agent").stdout.strip() == "active"
    metrics = after.check("curl -fsS --retry 10 --retry-connrefused --retry-delay 3 "
                          "http://127.0.0.1:9797/metrics")
    assert "pbs_agent_collector_success" in metrics


@pytest.mark.xfail(strict=True, reason=(
    "run 2026-12-07: 1 change, the sshd drop-in gains mlkem768x25519-sha256 for OpenSSH 10.0; "
    "upgrade.py plans before the upgrade and cannot render it (docs/benchmarks.md)"))
def test_pbs_host_changes_nothing_after_the_upgrade(upgraded: Upgraded, after: Shell) -> None:
    started = time.monotonic()
    rerun = run_deploy(upgraded.machine, NODE).check()
    TIMINGS["upgrade: pbs_host.py re-run on Debian 13"] = time.monotonic() - started
    assert rerun.changed_ops == 0, rerun.changed
