"""After a reboot of the real kernel everything the deploy set up comes back by itself."""

from __future__ import annotations

import pytest

from deploys.sysctl.steps import DEFAULT_SYSCTL
from lab.vm import Machine
from lab.vm.deploy import run_deploy
from tests.vm.records import TIMINGS

pytestmark = pytest.mark.vm

POOL, MOUNT = "backup", "/mnt/datastore/store1"


@pytest.fixture(scope="module")
def rebooted(vm: Machine) -> Machine:
    """The converged guest, rebooted from inside (same QEMU process, fresh kernel boot)."""
    with vm.shell() as shell:
        if shell.run(f"zpool list -H {POOL}").status != 0:
            pytest.fail(f"pool {POOL} missing before the reboot: the converge tests failed")
    TIMINGS["reboot to SSH"] = vm.reboot()
    return vm


def test_state_survives_reboot(rebooted: Machine) -> None:
    with rebooted.shell() as guest:
        assert guest.check(f"zpool list -H -o health {POOL}").strip() == "ONLINE"
        source = guest.check(f"findmnt -n -o SOURCE {MOUNT}").strip()
        assert source == f"{POOL}/store1"
        assert guest.check("systemctl is-active nftables").strip() == "active"
        assert "dropped by policy" in guest.check("nft list table inet pbs_fleet")
        for key, want in DEFAULT_SYSCTL.items():
            assert " ".join(guest.check(f"sysctl -n {key}").split()) == str(want), key
        assert guest.run("systemctl is-active pbs-agent").stdout.strip() == "active"


def test_third_run_changes_nothing(rebooted: Machine) -> None:
    third = run_deploy(rebooted).check()
    assert third.changed_ops == 0, third.changed
