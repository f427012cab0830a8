"""Agent: the shipped tarball, its Debian dependencies, config, unit hardening, node_exporter."""

from __future__ import annotations

import ast
import subprocess
import sys
import tarfile
import tomllib

from deploys.agent import steps as agent
from deploys.agent.package import AGENT_SOURCE, build_tarball, tree_digest
from deploys.node import pbs_node
from deploys.templates import render
from tests.deploys import fakehost


def test_tarball_is_deterministic_and_has_no_bytecode(tmp_path):
    a, digest = build_tarball(out_dir=tmp_path / "a")
    b, digest_b = build_tarball(out_dir=tmp_path / "b")
    assert digest == digest_b == tree_digest()
    assert a.read_bytes() == b.read_bytes()
    with tarfile.open(a) as tar:
        names = tar.getnames()
        assert "pbs_agent/cli.py" in names and "pbs_agent/__main__.py" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        assert all(m.uid == 0 and m.mtime == 0 for m in tar.getmembers())


def test_unpacked_tarball_runs_with_the_wrapper_layout(tmp_path):
    tarball, _ = build_tarball(out_dir=tmp_path / "build")
    lib = tmp_path / "lib"
    lib.mkdir()
    with tarfile.open(tarball) as tar:
        tar.extractall(lib, filter="data")
    proc = subprocess.run([sys.executable, "-m", "pbs_agent", "--version"], cwd=tmp_path,
                          env={"PYTHONPATH": str(lib)}, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("pbs-agent "), proc.stderr


def _third_party_imports() -> set[str]:
    found = set()
    for path in AGENT_SOURCE.rglob("*.py"):
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


def test_unit_hardening():
    unit = render("agent/pbs-agent.service.j2", user="pbs-agent", config="/etc/c.toml",
                  readonly_paths=["/mnt/datastore/a", "/mnt/datastore/b"])
    for line in ("ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                 "PrivateTmp=yes", "ReadOnlyPaths=-/mnt/datastore/a",
                 "ReadOnlyPaths=-/mnt/datastore/b", "SupplementaryGroups=backup",
                 "User=pbs-agent", "ExecStart=/usr/bin/pbs-agent serve --config /etc/c.toml"):
        assert line in unit, line


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
