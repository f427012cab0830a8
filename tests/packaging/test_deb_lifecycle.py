"""The package on sandbox hosts of each Debian release the lab boots (12 and 13; systemd, apt
through the lab's cache): install, upgrade, remove, purge, as an admin would with apt."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.sandbox import Sandbox, SandboxHost
from lab.sandbox.rootfs import SUITES

APT = ("DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confdef "
       "-o Dpkg::Options::=--force-confold")


def _put(host: SandboxHost, deb: Path) -> str:
    dest = host.root / "var" / "tmp" / deb.name
    shutil.copy(deb, dest)
    return f"/var/tmp/{deb.name}"


def _status(host: SandboxHost) -> str:
    return host.exec("dpkg-query -W -f='${Status} ${Version}' pbs-agent 2>/dev/null",
                     check=False).stdout


def _serving(host: SandboxHost, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        page = host.exec("curl -fsS --max-time 5 http://127.0.0.1:9797/", check=False).stdout
        if "pbs-agent exporter" in page or time.monotonic() > deadline:
            return page
        time.sleep(1)


@pytest.fixture(params=SUITES)
def release_host(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[SandboxHost]:
    """A fresh host of one Debian release (bookworm, trixie)."""
    host = sandbox.start_host(request.param)
    try:
        yield host
    finally:
        sandbox.stop_host(host)


def test_install_upgrade_remove_purge(release_host: SandboxHost,
                                      agent_deb: tuple[Path, str], agent_deb_next: Path) -> None:
    host = release_host
    first, second = _put(host, agent_deb[0]), _put(host, agent_deb_next)
    host.exec(f"apt-get update -q && {APT} install {first}", timeout=900)
    assert _status(host).startswith("install ok installed")
    # the system user, in group backup; the service runs hardened and serves
    assert "backup" in host.exec("id -nG pbs-agent").stdout.split()
    assert host.exec("systemctl is-enabled pbs-agent").stdout.strip() == "enabled"
    assert "pbs-agent exporter" in _serving(host)
    assert host.exec("stat -c '%U %a' /var/lib/pbs-agent").stdout.split() == ["pbs-agent", "750"]
    shown = host.exec("systemctl show -p User,NoNewPrivileges,ProtectSystem pbs-agent").stdout
    assert set(shown.split()) == {"User=pbs-agent", "NoNewPrivileges=yes", "ProtectSystem=strict"}
    assert "usage: pbs-agent" in host.exec("pbs-agent --help").stdout
    # the admin's config and the agent's state survive an upgrade
    host.exec("echo 'state-dir = \"/var/lib/pbs-agent\"  # local' >> /etc/pbs-agent/config.toml"
              " && echo kept > /var/lib/pbs-agent/marker")
    host.exec(f"{APT} install {second}", timeout=600)
    assert _status(host) == "install ok installed 99.0.0"
    assert "# local" in host.exec("cat /etc/pbs-agent/config.toml").stdout
    assert host.exec("cat /var/lib/pbs-agent/marker").stdout.strip() == "kept"
    assert "pbs-agent exporter" in _serving(host)
    # remove keeps the configuration, purge removes configuration and state
    host.exec(f"{APT} remove pbs-agent", timeout=600)
    assert _status(host).startswith("deinstall ok config-files")
    assert "# local" in host.exec("cat /etc/pbs-agent/config.toml").stdout
    assert host.exec("test -e /usr/bin/pbs-agent", check=False).returncode == 1
    assert host.exec("systemctl is-active pbs-agent", check=False).stdout.strip() != "active"
    host.exec(f"{APT} purge pbs-agent", timeout=600)
    assert _status(host) == ""
    assert host.exec("test -e /etc/pbs-agent || test -e /var/lib/pbs-agent",
                     check=False).returncode == 1
