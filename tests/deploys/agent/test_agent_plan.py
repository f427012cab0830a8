"""Agent: the Debian package step, its Debian dependencies, config, token, firewall port."""

from __future__ import annotations

import ast
import hashlib
import sys
import tomllib
from pathlib import Path

from deploys.agent import steps as agent
from deploys.agent.package import default_deb
from deploys.node import pbs_node
from deploys.templates import render
from tests.deploys import fakehost

REPO = Path(__file__).resolve().parents[3]


def _agent_commands(run: fakehost.FakeRun) -> list[str]:
    return [c for c in run.commands if "pbs-agent" in c and "apt-get" in c]


def test_package_is_uploaded_and_installed_with_apt():
    run = fakehost.run(pbs_node, fakehost.host_data(), execute=True)
    assert run.error is None, run.error
    name = f"pbs-agent_{fakehost.FAKE_AGENT_VERSION}_all.deb"
    (install,) = _agent_commands(run)
    assert "apt-get -y -q -o Dpkg::Options::=--force-confdef" in install
    assert install.endswith(f"install --reinstall /var/cache/pbs-fleet/{name}")
    assert "Agent | pbs-agent 0.0.0+plan (Debian package, apt-get install)" in \
        run.changing_ops()


def test_installed_package_from_the_same_file_is_left_alone():
    deb = Path(fakehost.fake_agent_deb())
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    data = fakehost.host_data(responses={
        f"/var/cache/pbs-fleet/{deb.name}": f"{digest}  /var/cache/pbs-fleet/{deb.name}",
        "dpkg -l": f"ii  pbs-agent  {fakehost.FAKE_AGENT_VERSION}  all  pbs-agent",
    })
    run = fakehost.run(pbs_node, data, execute=True)
    assert run.error is None, run.error
    assert _agent_commands(run) == []
    assert not [n for n in run.changing_ops() if "Debian package" in n]


def test_missing_package_names_make_deb(tmp_path):
    run = fakehost.run(pbs_node, fakehost.host_data(agent_deb=str(tmp_path / "nope.deb")))
    assert run.error is not None and "build it with `make deb`" in str(run.error)
    assert not run.executed


def test_default_package_is_this_checkouts_dist():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert default_deb() == REPO / "dist" / f"pbs-agent_{version}_all.deb"


def _third_party_imports() -> set[str]:
    found = set()
    for path in (REPO / "pbs_agent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "pbs_agent"}


def test_every_third_party_import_has_its_debian_package():
    missing = _third_party_imports() - set(agent.AGENT_MODULE_PACKAGES)
    assert not missing, f"pbs_agent imports {missing}: add their Debian packages"
    assert set(agent.AGENT_MODULE_PACKAGES.values()) <= set(agent.AGENT_PACKAGES)


def test_config_renders_valid_toml():
    text = render("agent/config.toml.j2",
                  settings={"web.listen-address": ":9797", "collector.api": True,
                            "dedup.max-groups": 50, "pbs.api-url": 'https://x"y'},
                  datastores={"store1": "/mnt/datastore/store1", "odd name": "/srv/x"})
    parsed = tomllib.loads(text)
    assert parsed["web"]["listen-address"] == ":9797" and parsed["collector"]["api"] is True
    assert parsed["dedup"]["max-groups"] == 50 and parsed["pbs"]["api-url"] == 'https://x"y'
    assert parsed["datastore"] == {"store1": "/mnt/datastore/store1", "odd name": "/srv/x"}


def test_listen_port_and_datastores():
    assert agent.listen_port({}) == 9797
    assert agent.listen_port({"web.listen-address": "127.0.0.1:9800"}) == 9800
    pools = [{"datastores": ["a", "b"]}, {"datastores": ["c"]}]
    assert agent.datastores(None, pools) == {"a": "/mnt/datastore/a", "b": "/mnt/datastore/b",
                                             "c": "/mnt/datastore/c"}
    assert agent.datastores({"x": "/srv/x"}, pools) == {"x": "/srv/x"}


def test_token_is_masked_in_every_command():
    secret = "s3cr3t-token-value-1234"
    run = fakehost.run(pbs_node, fakehost.host_data(agent_api_token=secret), execute=True)
    assert run.error is None, run.error
    assert not [c for c in run.commands if secret in c]
    assert any("/etc/pbs-agent/api-token" in c for c in run.commands)


def test_firewall_opens_the_agent_port_from_settings():
    from deploys.nftables.steps import allows, rules

    data = {"firewall_ssh_port": 22, "firewall_management_networks": ["192.0.2.0/24"],
            "firewall_backup_networks": [], "firewall_pve_networks": [],
            "firewall_prometheus_networks": ["192.0.2.50/32"]}
    ruleset = rules(data, agent.listen_port({"web.listen-address": ":9911"}))
    assert allows(ruleset, "192.0.2.50", 9911) and not allows(ruleset, "192.0.2.50", 9797)
