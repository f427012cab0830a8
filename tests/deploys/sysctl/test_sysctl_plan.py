"""Sysctl: drop-in content, ARC sizing, live apply with read-back and the TEST-ONLY skip."""

from __future__ import annotations

import subprocess

import pytest

from deploys.node import pbs_node
from deploys.sysctl.facts import SysctlState
from deploys.sysctl.operations import normalise, set_command
from deploys.sysctl.steps import (
    DEFAULT_SYSCTL,
    SECURITY_SYSCTL,
    arc_max_bytes,
    merged,
    ram_for_sizing,
)
from deploys.templates import render
from tests.deploys import fakehost

GIB = 1024**3


def test_dropin_lists_every_setting_sorted():
    text = render("sysctl/pbs-fleet.conf.j2", settings=DEFAULT_SYSCTL)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [f"{k} = {v}" for k, v in sorted(DEFAULT_SYSCTL.items())]


@pytest.mark.parametrize(("ram", "percent", "arc"), [
    (64 * GIB, 50, 32 * GIB), (8 * GIB, 25, 2 * GIB), (1 * GIB, 50, 1 * GIB),
    (100 * GIB + 12345, 10, (10 * GIB + 1234) // 2**20 * 2**20),
])
def test_arc_size(ram, percent, arc):
    assert arc_max_bytes(ram, percent) == arc


def test_sysctl_state_fact_parses_values_and_writability():
    out = ["net.core.somaxconn\t1\t4096", "net.core.rmem_max\t0\t212992",
           "net.ipv4.tcp_rmem\t1\t4096 131072 6291456", "vm.nope\t0\t"]
    state = SysctlState().process(out)
    assert state["net.core.somaxconn"] == {"value": "4096", "writable": True}
    assert state["net.core.rmem_max"]["writable"] is False
    assert state["net.ipv4.tcp_rmem"]["value"] == "4096 131072 6291456"
    assert state["vm.nope"] == {"value": None, "writable": False}
    assert normalise("4096\t87380   6291456") == "4096 87380 6291456"


def _sysctl_responses(rmem_writable: bool) -> dict:
    lines = [f"{k}\t1\t{normalise(v)}" for k, v in {**SECURITY_SYSCTL, **DEFAULT_SYSCTL}.items()
             if k != "net.core.rmem_max"]
    lines.append(f"net.core.rmem_max\t{int(rmem_writable)}\t212992")
    return {"sysctl-state": "\n".join(lines)}


def test_only_differing_keys_are_set_and_read_back():
    run = fakehost.run(pbs_node, fakehost.host_data(responses=_sysctl_responses(True)),
                       execute=True)
    sets = [c for c in run.commands if "sysctl-set" in c]
    assert len(sets) == 1 and "net.core.rmem_max" in sets[0] and "16777216" in sets[0]


def test_unsettable_key_is_skipped_only_with_the_test_switch():
    skip = fakehost.run(pbs_node, fakehost.host_data(responses=_sysctl_responses(False),
                                                     test_only_sysctl_skip_unsettable=True),
                        execute=True)
    assert skip.error is None and not [c for c in skip.commands if "sysctl-set" in c]
    strict = fakehost.run(pbs_node, fakehost.host_data(responses=_sysctl_responses(False)),
                          execute=True)
    assert [c for c in strict.commands if "sysctl-set" in c]  # tries, and read-back decides


def test_read_back_fails_loudly_when_the_kernel_keeps_its_value():
    """In a network namespace net.core.rmem_max is read-only: procps exits 0, we do not."""
    script = set_command("net.core.rmem_max", "16777217").get_raw_value()
    proc = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True,
                          text=True, check=False)
    if "Operation not permitted" in proc.stderr and "unshare" in proc.stderr:
        pytest.skip("unshare --net needs root")
    assert proc.returncode == 1
    assert "sysctl net.core.rmem_max: kernel kept" in proc.stderr
    assert "not settable on this host" in proc.stderr


def test_read_back_accepts_a_value_that_took():
    script = set_command("net.core.somaxconn", "1234").get_raw_value()
    proc = subprocess.run(["unshare", "--net", "sh", "-c",
                           script + " && sysctl -n net.core.somaxconn"],
                          capture_output=True, text=True, check=False)
    if "Operation not permitted" in proc.stderr and "unshare" in proc.stderr:
        pytest.skip("unshare --net needs root")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1234"


def test_kernel_hardening_is_always_added_and_overridable():
    got = merged({"net.core.somaxconn": 4096}, {"net.ipv4.conf.all.rp_filter": 2})
    assert got["kernel.kptr_restrict"] == 2 and got["fs.protected_fifos"] == 2
    assert got["net.ipv4.conf.all.rp_filter"] == 2 and got["net.core.somaxconn"] == 4096
    assert "net.core.rmem_max" not in got  # sysctl_settings replaced the buffer defaults


@pytest.mark.parametrize("mem_total", [4 * GIB - 190 * 2**20, 4 * GIB - 187 * 2**20 + 4096,
                                       4 * GIB + 3 * 2**20])
def test_zfs_conf_does_not_move_with_memtotal_between_boots(mem_total):
    # MemTotal shifts by a few MiB between boots (kernel reservations, a new kernel); the ARC
    # file must not, or every reboot makes the next deploy run change it (VM tier, reboot test).
    ram = ram_for_sizing(mem_total)
    assert ram == 4 * GIB
    text = render("zfs/zfs.conf.j2", percent=50, ram_bytes=ram,
                  arc_max_bytes=arc_max_bytes(ram, 50))
    assert f"zfs_arc_max={2 * GIB}" in text
