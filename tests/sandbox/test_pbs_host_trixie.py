"""deploys/pbs_host.py on a Debian 13 "trixie" sandbox host (the lab's second rootfs).

The same real parts as tests/sandbox/test_pbs_host.py (SSH, apt through the cache, systemd,
nftables in the host's namespace, Debian's python3 — 3.13 on trixie — running the agent);
the deploy reads Debian 13 from the host and so plans PBS 4 (trixie sources). Test-only as
there: Proxmox sources written disabled, PBS/ZFS packages skipped, hardware facts overridden.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lab.deploy_data import HEALTHY_OVERRIDES, keyring_server, pbs_host_data
from lab.sandbox import Sandbox, SandboxHost, run_pyinfra

pytestmark = pytest.mark.sandbox

DEPLOY = "deploys/pbs_host.py"


@pytest.fixture(scope="module")
def trixie_host(sandbox: Sandbox) -> Iterator[SandboxHost]:
    host = sandbox.start_host("trixie")
    try:
        yield host
    finally:
        sandbox.stop_host(host)


@pytest.fixture(scope="module")
def converged(trixie_host: SandboxHost, agent_deb: Any,
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    inventory = tmp_path_factory.mktemp("inv13") / "sandbox_trixie.py"
    trixie_host.install_fact_overrides(HEALTHY_OVERRIDES)
    trixie_host.exec("systemd-run --unit pf-listen-8007 --property=Restart=always "
                     "python3 -m http.server 8007 --bind 0.0.0.0 --directory /srv")
    with keyring_server() as url:
        trixie_host.write_inventory(inventory, pbs_host_data(url, agent_deb=str(agent_deb[0])),
                                    groups=["pbs"])
        first = run_pyinfra(inventory, DEPLOY, "-vv")
        second = run_pyinfra(inventory, DEPLOY, "-vv")
    return {"first": first, "second": second}


def test_debian13_converges_and_second_run_changes_nothing(
        converged: dict[str, Any], trixie_host: SandboxHost) -> None:
    assert trixie_host.exec("cut -d. -f1 /etc/debian_version").stdout.strip() == "13"
    first = converged["first"].check()
    assert first.changed_ops and first.changed_ops > 20, first.changed
    second = converged["second"].check()
    assert second.changed_ops == 0, second.changed


def test_pbs4_sources_and_the_agent_on_python313(
        converged: dict[str, Any], trixie_host: SandboxHost) -> None:
    nosub = trixie_host.exec("cat /etc/apt/sources.list.d/pbs-no-subscription.sources").stdout
    assert "Suites: trixie" in nosub and "proxmox-release-trixie.gpg" in nosub
    version = trixie_host.exec("python3 -c 'import sys; print(sys.version_info[:2])'").stdout
    assert version.strip() == "(3, 13)"
    active = trixie_host.exec("systemctl is-active pbs-agent", check=False).stdout.strip()
    assert active == "active"
    assert "pbs_agent_collector_success" in trixie_host.exec(
        "curl -fsS http://127.0.0.1:9797/metrics").stdout


def test_firewall_on_debian13(converged: dict[str, Any], trixie_host: SandboxHost,
                              client_allowed: Any, client_denied: Any) -> None:
    assert client_allowed.can_connect(trixie_host.address, 8007)
    assert not client_denied.can_connect(trixie_host.address, 8007)
    assert not client_allowed.can_connect(trixie_host.address, 22)
    assert trixie_host.ssh("true").returncode == 0
    assert "policy drop" in trixie_host.exec("nft list table inet pbs_fleet").stdout
