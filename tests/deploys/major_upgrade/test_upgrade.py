"""The PBS 3 -> 4 upgrade deploy: each failed precondition refused with one line and nothing
changed (fake host: nothing executed); the apt source switch all or none (real shell on real
files); the post-checks stop at the first failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploys.major_upgrade import plan
from deploys.major_upgrade.operations import switch_command, zfs_module_command
from deploys.major_upgrade.steps import upgrade
from tests.deploys.fakehost import host_data, run

GOOD = {
    "debian": "12", "pbs": "3.4.2", "pbs3to4": "ran", "pbs3to4_failures": "0",
    "backup_age": "600", "active_tasks": "0", "root_free": str(40 << 30),
    "source_bookworm": ["/etc/apt/sources.list.d/debian.sources",
                        "/etc/apt/sources.list.d/pbs-no-subscription.sources"],
}


def survey_text(**changes: object) -> str:
    merged = {**GOOD, **changes}
    lines = []
    for key, value in merged.items():
        if value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"{key}={v}")
    return "\n".join(lines)


def upgrade_run(survey: str, execute: bool = True, **data: object):
    return run(upgrade, host_data(responses={"echo debian=": survey},
                                  **{"upgrade_pbs_to": 4, **data}), execute=execute)


def test_good_host_plans_the_whole_upgrade_in_order() -> None:
    result = upgrade_run(survey_text(), execute=False)  # planned only: a fake host cannot reboot
    assert result.error is None, result.error
    names = [n.split(" | ", 1)[-1] for n in result.op_names()]
    order = ["Proxmox trixie keyring (pinned)", "Apt sources bookworm -> trixie (all or none)",
             "Apt update (trixie)", "Full upgrade to Debian 13 / PBS 4",
             "Headers of the new kernel for DKMS (zfs-dkms)",
             "ZFS module for the kernel the reboot starts", "Reboot into the trixie kernel",
             "Wait for the boot to finish"]
    assert [n for n in names if n in order] == order
    assert names[-1].startswith("Post-upgrade checks")


@pytest.mark.parametrize(("change", "line"), [
    ({"debian": "13"}, "Debian 13 is not Debian 12"),
    ({"pbs": ""}, "PBS is not installed"),
    ({"pbs": "3.3.7"}, "PBS 3.3.7 is older than 3.4"),
    ({"pbs": "4.0.11"}, "PBS 4.0.11 is not PBS 3"),
    ({"pbs3to4": "missing"}, "pbs3to4 not found"),
    ({"pbs3to4_failures": "2", "pbs3to4_fail": ["systemd-boot meta-package installed"]},
     "pbs3to4 reports 2 failure(s), first: systemd-boot meta-package installed"),
    ({"backup_age": None}, "no PBS config backup found"),
    ({"backup_age": str(3 * 86400)}, "newest PBS config backup is 72 h old"),
    ({"active_tasks": "1"}, "1 PBS task(s) running"),
    ({"root_free": str(3 << 30)}, "3.0 GiB free on / (need 10 GiB)"),
    ({"pool_bad": ["tank DEGRADED"]}, "ZFS pool tank DEGRADED: not ONLINE"),
    ({"source_trixie": ["/etc/apt/sources.list.d/x.list"]}, "mixed suites"),
])
def test_each_failed_precondition_is_refused_with_one_line(change: dict, line: str) -> None:
    result = upgrade_run(survey_text(**change))
    assert result.error is not None
    lines = str(result.error).splitlines()
    assert lines[0].endswith("upgrade refused, nothing changed:")
    assert [x.strip() for x in lines[1:]] == [next(x.strip() for x in lines[1:] if line in x)]
    assert not result.executed  # refused while planning: nothing ran on the host


def test_not_opted_in_is_refused() -> None:
    result = run(upgrade, host_data(responses={"echo debian=": survey_text()}), execute=True)
    assert "upgrade not enabled: set upgrade_pbs_to = 4" in str(result.error)
    assert not result.executed


def test_all_failures_are_listed_at_once() -> None:
    problems = plan.refusals({**GOOD, "active_tasks": "2", "root_free": "0"},
                             max_backup_age=86400, min_free=10 << 30)
    assert len(problems) == 2


def _sources(tmp_path: Path) -> list[Path]:
    deb = tmp_path / "debian.sources"
    deb.write_text("Types: deb\nURIs: http://deb.debian.org/debian\n"
                   "Suites: bookworm bookworm-updates\nComponents: main contrib\n\n"
                   "Types: deb\nURIs: http://security.debian.org/debian-security\n"
                   "Suites: bookworm-security\nComponents: main contrib\n")
    pbs = tmp_path / "pbs.sources"
    pbs.write_text("Types: deb\nURIs: http://download.proxmox.com/debian/pbs\n"
                   "Suites: bookworm\nComponents: pbs-no-subscription\n"
                   "Signed-By: /etc/apt/keyrings/proxmox-release-bookworm.gpg\n")
    old = tmp_path / "sources.list"
    old.write_text("deb http://deb.debian.org/debian bookworm main\n")
    old.chmod(0o640)
    return [deb, pbs, old]


def _switch(files: list[Path]) -> subprocess.CompletedProcess[str]:
    cmd = switch_command([str(f) for f in files]).get_raw_value()
    return subprocess.run(cmd, shell=True, capture_output=True, text=True)


@pytest.mark.skipif(not Path("/etc/apt").is_dir(), reason="stages under /etc/apt (Debian)")
def test_switch_rewrites_every_file(tmp_path: Path) -> None:
    files = _sources(tmp_path)
    proc = _switch(files)
    assert proc.returncode == 0, proc.stderr
    assert "Suites: trixie trixie-updates" in files[0].read_text()
    assert "Suites: trixie-security" in files[0].read_text()
    assert "proxmox-release-trixie.gpg" in files[1].read_text()
    assert files[2].read_text() == "deb http://deb.debian.org/debian trixie main\n"
    assert files[2].stat().st_mode & 0o777 == 0o640
    assert not any("bookworm" in f.read_text() for f in files)


@pytest.mark.skipif(not Path("/etc/apt").is_dir(), reason="stages under /etc/apt (Debian)")
def test_switch_is_all_or_nothing(tmp_path: Path) -> None:
    """The last file cannot be replaced (a directory sits where its new copy goes, which stops
    root too): the files already switched are put back, one line is printed."""
    files = _sources(tmp_path)
    before = [f.read_text() for f in files]
    (tmp_path / "sources.list.pbs-fleet-new").mkdir()
    proc = _switch(files)
    assert proc.returncode == 1
    assert proc.stderr.endswith("every source file restored to bookworm\n")
    assert proc.stderr.count("\n") == 1
    assert [f.read_text() for f in files] == before
    assert not list(Path("/etc/apt").glob(".pbs-fleet-suite-switch.*"))


def test_survey_reads_the_pbs3to4_simulator_through_its_forced_colour(tmp_path: Path) -> None:
    """The survey's shell, run here with the SIMULATORS on PATH: FAILURES and the first FAIL
    line come through the ANSI colour codes pbs3to4 always prints."""
    import os

    from deploys.major_upgrade.facts import UpgradeSurvey
    from lab.simulators import DIRECTORY

    (tmp_path / "etc/pbs-simulator").mkdir(parents=True)
    (tmp_path / "etc/pbs-simulator/systemd-boot").touch()
    env = {**os.environ, "PATH": f"{DIRECTORY}:{os.environ['PATH']}",
           "PBS_SIMULATOR_ROOT": str(tmp_path), "PBS_SIMULATOR_VERSION": "3.3.9"}
    fact = UpgradeSurvey()
    out = subprocess.run(fact.command(backup_dir=str(tmp_path / "none")), shell=True,
                         capture_output=True, text=True, env=env).stdout
    survey = fact.process(out.splitlines())
    assert survey["pbs"] == "3.3.9" and survey["pbs3to4"] == "ran"
    assert survey["pbs3to4_failures"] == "2"
    assert survey["pbs3to4_fail"][0] == ("'proxmox-backup' package is too old, please upgrade "
                                         "to >= 3.4.0")
    assert "backup_age" not in survey
    problems = plan.refusals(survey, max_backup_age=86400, min_free=0)
    assert "pbs3to4 reports 2 failure(s), first: 'proxmox-backup' package is too old, " \
           "please upgrade to >= 3.4.0" in problems


@pytest.mark.skipif(not Path("/etc/apt").is_dir(), reason="stages under /etc/apt (Debian)")
@pytest.mark.parametrize("variant", [
    {}, {"test_only_proxmox_sources_inactive": True},
    {"pbs_repository": "enterprise", "pbs_has_subscription": True},
])
def test_switched_sources_are_what_pbs_host_writes_on_trixie(tmp_path: Path,
                                                             variant: dict) -> None:
    """After the upgrade, deploys/pbs_host.py must find its apt sources converged (0 changes):
    the switch of what it wrote for bookworm (PBS 3) is byte for byte what it writes for
    trixie (PBS 4), keyring path included."""
    from deploys import templates
    from deploys.apt.steps import sources
    data = {"test_only_proxmox_sources_inactive": False, "pbs_repository": "no-subscription",
            "pbs_has_subscription": False,
            "apt_proxmox_mirror": "http://download.proxmox.com/debian/pbs", **variant}

    def written(codename: str) -> dict[str, str]:
        out = sources(codename, f"/etc/apt/keyrings/proxmox-release-{codename}.gpg",
                      data)
        out["debian-contrib.sources"] = templates.render(
            "apt/debian-contrib.sources.j2", codename=codename,
            mirror="http://deb.debian.org/debian",
            security_mirror="http://security.debian.org/debian-security")
        return out

    old = written("bookworm")
    files = []
    for name, text in old.items():
        (tmp_path / name).write_text(text)
        files.append(tmp_path / name)
    assert _switch(files).returncode == 0
    assert {f.name: f.read_text() for f in files} == written("trixie")


def _zfs_check(tmp_path: Path, pools: str, modules: list[str]) -> subprocess.CompletedProcess[str]:
    """The pre-reboot check in a real shell; ``zpool`` and ``modinfo`` are scripts on PATH
    answering as a host with *pools* and a zfs module for the kernels in *modules*."""
    boot, bin_dir = tmp_path / "boot", tmp_path / "bin"
    boot.mkdir()
    bin_dir.mkdir()
    for version in ("6.1.0-28-amd64", "6.12.57+deb13-amd64", "6.1.0-9-amd64"):
        (boot / f"vmlinuz-{version}").touch()
    (bin_dir / "zpool").write_text(f"#!/bin/sh\nprintf '{pools}'\n")
    cases = " ".join(f'"{m}"' for m in modules) or '""'
    (bin_dir / "modinfo").write_text(
        '#!/bin/sh\n[ "$1" = -k ] || exit 2\nfor k in ' + cases +
        '; do [ "$2" = "$k" ] && [ "$3" = zfs ] && exit 0; done\n'
        'echo "modinfo: ERROR: Module zfs not found." >&2; exit 1\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    cmd = zfs_module_command(str(boot)).get_raw_value()
    return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"})


def test_reboot_refused_when_the_new_kernel_has_no_zfs_module(tmp_path: Path) -> None:
    """The full upgrade installed 6.12 but DKMS built zfs only for 6.1 (no headers for 6.12):
    rebooting would bring the host up without its pools; one line says what to do."""
    proc = _zfs_check(tmp_path, "backup\\n", ["6.1.0-28-amd64"])
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "6.12.57+deb13-amd64" in proc.stderr and "no zfs module" in proc.stderr
    assert "linux-headers-6.12.57+deb13-amd64" in proc.stderr


def test_reboot_allowed_with_zfs_for_the_new_kernel_or_without_pools(tmp_path: Path) -> None:
    ok = _zfs_check(tmp_path, "backup\\n", ["6.1.0-28-amd64", "6.12.57+deb13-amd64"])
    assert (ok.returncode, ok.stderr) == (0, "")
    (tmp_path / "boot").rename(tmp_path / "boot1")
    (tmp_path / "bin").rename(tmp_path / "bin1")
    no_pools = _zfs_check(tmp_path, "", [])
    assert (no_pools.returncode, no_pools.stderr) == (0, "")



@pytest.mark.parametrize(("status", "installs"), [
    ("install ok installed", "install -y -q linux-headers-amd64\n"),
    ("deinstall ok config-files", ""), ("", ""),
])
def test_headers_meta_package_only_where_zfs_dkms_is_installed(tmp_path: Path, status: str,
                                                               installs: str) -> None:
    """zfs-dkms with only the running kernel's headers (installed by hand, or by an image) gets
    no zfs.ko for trixie's kernel: the upgrade adds linux-headers-amd64, which follows it.
    Real shell; ``dpkg-query`` and ``apt-get`` are scripts on PATH (apt-get logs its args)."""
    from deploys.major_upgrade.steps import DKMS_HEADERS
    log = tmp_path / "apt.log"
    (tmp_path / "dpkg-query").write_text(
        f'#!/bin/sh\n[ "$3" = zfs-dkms ] && printf %s "{status}"\n'
        '[ -n "' + status + '" ] || exit 1\n')
    (tmp_path / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    for tool in ("dpkg-query", "apt-get"):
        (tmp_path / tool).chmod(0o755)
    proc = subprocess.run(DKMS_HEADERS, shell=True, capture_output=True, text=True,
                          env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert (log.read_text() if log.exists() else "") == installs
