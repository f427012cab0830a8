"""Preflight: every refusal and warning, overrides, and 'nothing runs after a refusal'."""

from __future__ import annotations

import pytest
from pyinfra.api.exceptions import DeployError

from deploys.host_facts import HostSurvey, parse
from deploys.node import pbs_node
from deploys.preflight.steps import evaluate
from tests.deploys import fakehost


def survey(**changes):
    return parse(fakehost.survey_output(**changes).splitlines())


def test_healthy_host_passes_without_warnings():
    verdict = evaluate(survey(), [])
    assert verdict.refusals == [] and verdict.warnings == []
    assert (verdict.codename, verdict.pbs_major) == ("bookworm", 3)


def test_debian_13_selects_pbs_4():
    verdict = evaluate(survey(os_version="13", os_codename="trixie"), [])
    assert (verdict.codename, verdict.pbs_major) == ("trixie", 4)


@pytest.mark.parametrize(("changes", "refusal"), [
    ({"arch": "arm64"}, "architecture arm64 is not amd64"),
    ({"os_version": "11"}, "OS debian 11 is not Debian 12 or 13"),
    ({"os_id": "ubuntu", "os_version": "24.04"}, "OS ubuntu 24.04 is not Debian 12 or 13"),
    ({"aes_ni": "0"}, "CPU lacks AES-NI"),
    ({"mem_total_kib": str(4 * fakehost.GIB_KIB)}, "RAM 4.0 GiB is below 8 GiB"),
    ({"storage_driver": ["megaraid_sas"]}, "RAID controller driver megaraid_sas found"),
    ({"disk_model": ["sda DELL PERC H730P Mini"]}, "disks behind hardware RAID: sda DELL PERC"),
    ({"nic": ["eno1 100"]}, "fastest NIC eno1 links at 100 Mb/s (< 1 Gb/s)"),
    ({"zfs_loaded": "0", "zfs_modinfo": "", "headers": "0"}, "ZFS module cannot be loaded"),
])
def test_refusals(changes, refusal):
    verdict = evaluate(survey(**changes), [])
    assert len(verdict.refusals) == 1 and verdict.refusals[0].startswith(refusal), verdict


@pytest.mark.parametrize(("changes", "warning"), [
    ({"mem_total_kib": str(16 * fakehost.GIB_KIB)}, "RAM 16.0 GiB is below the recommended"),
    ({"edac": "0"}, "no ECC memory controller found"),
    ({"nic": ["eno1 1000"]}, "fastest NIC eno1 links at 1000 Mb/s (< 10 Gb/s)"),
    ({"nic": None}, "no physical NIC with a known link speed"),
    ({"zfs_loaded": "0", "zfs_modinfo": ""}, "ZFS module not built yet for kernel"),
    ({"zfs_loaded": "0", "zfs_modinfo": "", "headers": "0", "headers_available": "1"},
     "ZFS module not built yet: linux-headers-6.1.0-28-amd64 will be installed"),
])
def test_warnings(changes, warning):
    verdict = evaluate(survey(**changes), [])
    assert verdict.refusals == []
    assert any(w.startswith(warning) for w in verdict.warnings), verdict.warnings


def test_dkms_built_module_for_running_kernel_passes():
    s = survey(zfs_loaded="0", zfs_modinfo="", headers="0",
               dkms="zfs/2.1.11, 6.1.0-28-amd64, x86_64: installed;")
    assert evaluate(s, []).refusals == []


def test_missing_zfs_only_warns_without_pools():
    s = survey(zfs_loaded="0", zfs_modinfo="", headers="0")
    verdict = evaluate(s, [], needs_zfs=False)
    assert verdict.refusals == [] and "no zfs_pools configured" in verdict.warnings[-1]


def test_override_turns_a_refusal_into_a_warning():
    verdict = evaluate(survey(mem_total_kib=str(4 * fakehost.GIB_KIB)), ["ram"])
    assert verdict.refusals == []
    assert "refusal overridden by preflight_override" in verdict.warnings[0]


def test_override_file_replaces_measured_facts_and_is_listed():
    output = fakehost.survey_output().splitlines()
    output.append('fact-overrides={"aes_ni": false, "storage_drivers": ["megaraid_sas"]}')
    facts = HostSurvey().process(output)
    assert facts["aes_ni"] is False and facts["storage_drivers"] == ["megaraid_sas"]
    assert facts["overridden"] == ["aes_ni", "storage_drivers"]


@pytest.mark.parametrize(("changes", "words"), [
    ({"aes_ni": "0"}, "CPU lacks AES-NI"),
    ({"storage_driver": ["megaraid_sas"]}, "RAID controller driver megaraid_sas"),
    ({"mem_total_kib": str(2 * fakehost.GIB_KIB)}, "RAM 2.0 GiB is below 8 GiB"),
])
def test_refusal_is_one_line_and_nothing_runs(changes, words):
    data = fakehost.host_data(survey=fakehost.survey_output(**changes))
    run = fakehost.run(pbs_node, data, execute=True)
    assert isinstance(run.error, DeployError)
    message = str(run.error)
    assert message.startswith("@fake/pbs1: preflight refused: ") and words in message
    assert "\n" not in message
    # Only the read-only survey ran: no operation was even planned.
    assert len(run.commands) == 1 and "mem_total_kib" in run.commands[0]
    assert run.state.get_op_order() == [] and run.executed is False
