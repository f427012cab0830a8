"""Baseline: the files it writes, what it must never refuse (USB storage), and its switch."""

from __future__ import annotations

import subprocess

from deploys.baseline.steps import BANNER, FILES, LOGIN_DEFS, MODULES
from deploys.node import harden
from deploys.templates import render
from tests.deploys import fakehost


def test_usb_storage_stays_loadable_for_removable_datastores():
    assert "usb-storage" not in MODULES and "usb_storage" not in MODULES
    text = render("baseline/modprobe.conf.j2", modules=MODULES)
    assert "install dccp /bin/true\n" in text and "usb" not in text.replace("USB storage", "")


def test_profile_snippet_is_valid_sh_and_sets_a_readonly_timeout():
    text = render("baseline/profile.sh.j2", seconds=600)
    proc = subprocess.run(["sh", "-c", text + "\necho $TMOUT; TMOUT=0 2>/dev/null; echo $TMOUT"],
                          capture_output=True, text=True, check=False)
    assert proc.stdout.split()[:1] == ["600"]
    assert "readonly TMOUT" in text and "ulimit -c 0" in text


def test_banner_is_the_configured_text():
    assert render("baseline/issue.j2", banner=BANNER).startswith("Authorized access only.")


def test_plan_writes_every_file_and_login_defs_line():
    run = fakehost.run(harden, fakehost.host_data(), groups=("pve",))
    assert run.error is None, run.error
    names = run.op_names()
    for dest in FILES:
        assert f"Baseline | Baseline {dest}" in names
    for key, value in LOGIN_DEFS.items():
        assert f"Baseline | /etc/login.defs {key} {value}" in names


def test_switch_off_leaves_the_os_alone():
    run = fakehost.run(harden, fakehost.host_data(baseline_hardening=False), groups=("pve",))
    assert run.error is None and not [n for n in run.op_names() if n.startswith("Baseline")]
