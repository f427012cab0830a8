"""The ZFS safety matrix on real disks: used disks are refused and left byte-for-byte intact.

Each scenario runs the real deploy with a pool naming one used disk; the run must fail with a
refusal naming that disk, before any operation executes, and the disk's sha256 must not move.
The other pool (``pfother``) is exported for the checksums (an imported pool may write its
labels at any time) and imported again for the imported-member case.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from deploys.sysctl.steps import DROPIN as SYSCTL_DROPIN
from lab.vm import Machine, Shell
from lab.vm.deploy import prepare_pbs, run_deploy
from tests.vm.disks import (
    EXT4,
    OTHER_POOL,
    PARTED,
    POOLED,
    checksum,
    dev,
    prepare_used_disks,
)

pytestmark = pytest.mark.vm

USED = (PARTED, EXT4, *POOLED)


@pytest.fixture(scope="module")
def used_disks(vm: Machine) -> Iterator[dict[str, str]]:
    """The used disks prepared, ``pfother`` exported; {serial: sha256} before any deploy."""
    with vm.shell() as shell:
        prepare_pbs(shell)
        prepare_used_disks(shell)
        shell.check(f"zpool export {OTHER_POOL}")
        yield {serial: checksum(shell, serial) for serial in USED}


def _single(serial: str, name: str = "victim") -> dict:
    return {"zfs_pools": [{"name": name, "layout": "single", "disks": [dev(serial)]}]}


def _assert_untouched(shell: Shell, before: dict[str, str]) -> None:
    for serial, digest in before.items():
        assert checksum(shell, serial) == digest, f"{serial} changed"


@pytest.mark.parametrize("serial, reason", [
    (PARTED, "partition"), (EXT4, "ext4"),
    # zpool puts a GPT on whole disks: the member shows partitions and a zfs_member label
    (POOLED[0], r"partitions|zfs")])
def test_used_disk_refused_and_unchanged(vm: Machine, guest: Shell, used_disks: dict[str, str],
                                         serial: str, reason: str) -> None:
    result = run_deploy(vm, _single(serial))
    assert result.returncode != 0
    refusal = [line for line in result.output.splitlines() if "refused" in line]
    assert refusal, result.output[-3000:]
    assert dev(serial) in refusal[0] and re.search(reason, refusal[0]), refusal[0]
    assert not result.changed, f"operations ran before the refusal: {result.changed}"
    assert guest.run("zpool list -H victim").status != 0
    # Nothing else ran either: no step before ZFS left its file behind.
    assert guest.run(f"test -e {SYSCTL_DROPIN}").status != 0
    _assert_untouched(guest, used_disks)


def test_member_of_imported_pool_refused_even_when_allow_listed(
        vm: Machine, guest: Shell, used_disks: dict[str, str]) -> None:
    guest.check(f"zpool import -d /dev/disk/by-id {OTHER_POOL}")
    try:
        guid = guest.check(f"zpool get -H -o value guid {OTHER_POOL}")
        result = run_deploy(vm, {**_single(POOLED[1]), "zfs_wipe_allow": [dev(POOLED[1])]})
        assert result.returncode != 0
        assert f"disk {dev(POOLED[1])}" in result.output and "refused" in result.output
        assert not result.changed
        assert guest.check(f"zpool list -H -o health {OTHER_POOL}").strip() == "ONLINE"
        assert guest.check(f"zpool get -H -o value guid {OTHER_POOL}") == guid
    finally:
        guest.check(f"zpool export {OTHER_POOL}")
    # Import and export rewrite the labels (txg, state): the new contents are the reference.
    used_disks.update({serial: checksum(guest, serial) for serial in POOLED})


def test_allow_list_wipes_only_what_it_names(vm: Machine, guest: Shell,
                                             used_disks: dict[str, str]) -> None:
    pool = {"name": "scratch", "layout": "mirror", "disks": [dev(PARTED), dev(EXT4)]}
    half = run_deploy(vm, {"zfs_pools": [pool], "zfs_wipe_allow": [dev(PARTED)]})
    assert half.returncode != 0 and f"disk {dev(EXT4)}" in half.output, half.output[-3000:]
    assert not half.changed
    _assert_untouched(guest, used_disks)

    full = run_deploy(vm, {"zfs_pools": [pool], "zfs_wipe_allow": [dev(PARTED), dev(EXT4)]})
    full.check()
    status = guest.check("zpool status -P scratch")
    assert dev(PARTED) in status and dev(EXT4) in status
    # Named disks were wiped and reused; the exported pool's disks were not touched at all.
    _assert_untouched(guest, {s: d for s, d in used_disks.items() if s in POOLED})
    for serial in (PARTED, EXT4):
        assert checksum(guest, serial) != used_disks[serial]
    guest.check("zpool destroy scratch")
