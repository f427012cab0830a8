"""Agent: the pbs-agent Debian package (user, hardened unit), its config, token; node_exporter."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pyinfra import host
from pyinfra.api import HiddenValue, deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from deploys import schema, templates
from deploys.agent.operations import agent_package, secret_file
from deploys.agent.package import default_deb, read_deb
from deploys.conventions import datastore_path
from pbs_agent.exporter.options import DEFAULT_LISTEN_ADDRESS

CONFIG = "/etc/pbs-agent/config.toml"
TOKEN_FILE = "/etc/pbs-agent/api-token"
USER = "pbs-agent"
#: What the deploy installed before the package existed (a tree, a wrapper, its own unit):
#: removed so the package's files are the only ones.
LEGACY_TREE = "/usr/lib/pbs-agent"
LEGACY_UNIT = "/etc/systemd/system/pbs-agent.service"
NODE_EXPORTER_DROPIN = ("/etc/systemd/system/prometheus-node-exporter.service.d/"
                        "pbs-fleet-hardening.conf")
#: Third-party module the agent imports -> the Debian package that provides it.
AGENT_MODULE_PACKAGES = {
    "zstandard": "python3-zstandard", "prometheus_client": "python3-prometheus-client",
    "cryptography": "python3-cryptography", "numpy": "python3-numpy",
    "bcrypt": "python3-bcrypt", "yaml": "python3-yaml",
}
#: Debian packages the agent needs (it runs on Debian's python3, never with PyPI packages).
AGENT_PACKAGES = ["python3", *AGENT_MODULE_PACKAGES.values()]
NODE_EXPORTER_ARGS = [
    "--collector.textfile.directory=/var/lib/prometheus/node-exporter",
    "--collector.filesystem.mount-points-exclude=^/(dev|proc|run|sys|var/lib/docker/.+)($|/)",
    "--no-collector.infiniband", "--no-collector.nfs", "--no-collector.nfsd",
    "--no-collector.fibrechannel", "--no-collector.tapestats", "--no-collector.btrfs",
    "--no-collector.xfs", "--no-collector.ipvs", "--no-collector.wifi",
]


def _settings_ok(settings: dict[str, Any]) -> str | None:
    for key, val in settings.items():
        if not re.fullmatch(r"[a-z0-9_.-]+", str(key)):
            return f"setting name {key!r} is not a pbs-agent flag name (e.g. 'pbs.log-dir')"
        if not isinstance(val, (str, int, float, bool)):
            return f"setting {key!r}: value must be str, int, float or bool"
    return None


KEYS = schema.register(__name__, {
    "agent_enabled": schema.Key(bool, default=True,
                                doc="Install pbs-agent and run `pbs-agent serve`."),
    "agent_deb": schema.Key(
        (str, type(None)), default=None,
        doc="Controller path of the agent's Debian package to install with `apt-get install "
            "./pbs-agent_<version>_all.deb` (dependencies from the host's mirror). Default: "
            "`dist/pbs-agent_<version>_all.deb` of this checkout, built by `make deb`."),
    "agent_settings": schema.Key(
        dict, default={}, check=_settings_ok,
        doc="pbs-agent config-file keys (flag names without dashes, e.g. "
            "`{'web.listen-address': ':9797', 'collector.api': True}`), written to " + CONFIG
            + ". The listen port also opens the firewall for Prometheus hosts."),
    "agent_datastores": schema.Key(
        (dict, type(None)), default=None, item=str,
        doc="Datastore name → path for the agent (read-only in its unit). Default: every "
            "datastore of `zfs_pools` at /mnt/datastore/<name>."),
    "agent_api_token": schema.Key(
        (str, HiddenValue, type(None)), default=None,
        doc="SECRET. PBS API token secret for the agent's `api` collector, written to "
            + TOKEN_FILE + " (0640 root:pbs-agent) and never printed; load it from the "
            "environment or a vault in group_data, wrapped in pyinfra's HiddenValue."),
    "node_exporter_args": schema.Key(list, default=NODE_EXPORTER_ARGS, item=str,
                                     doc="Flags for prometheus-node-exporter."),
})


def listen_port(settings: dict[str, Any]) -> int:
    """TCP port of the agent's exporter (``web.listen-address``, default :9797)."""
    address = str(settings.get("web.listen-address", DEFAULT_LISTEN_ADDRESS))
    return int(address.rsplit(":", 1)[1])


def datastores(explicit: dict[str, str] | None, pools: list[dict[str, Any]]) -> dict[str, str]:
    """The agent's datastores: explicit mapping, else those of the ZFS pools."""
    if explicit is not None:
        return dict(explicit)
    return {s: datastore_path(s) for p in pools for s in p.get("datastores", [])}


@deploy("Agent")
def agent_step() -> None:
    """pbs-agent package (user, unit) + config + token; node_exporter flags and service."""
    settings = dict(schema.value(host, "agent_settings"))
    token = schema.value(host, "agent_api_token")
    if token is not None:
        settings.setdefault("pbs.api-token-file", TOKEN_FILE)
    stores = datastores(schema.value(host, "agent_datastores"), schema.value(host, "zfs_pools"))
    _node_exporter(schema.value(host, "node_exporter_args"))
    if not schema.value(host, "agent_enabled"):
        return
    configured = schema.value(host, "agent_deb")
    try:
        deb = read_deb(Path(configured) if configured else default_deb())
    except ValueError as exc:
        raise DeployError(f"agent_deb: {exc}") from None
    legacy_unit = files.file(name=f"No hand-made unit {LEGACY_UNIT} (the package ships one)",
                             path=LEGACY_UNIT, present=False)
    files.directory(name=f"No shipped tree {LEGACY_TREE} (the package replaces it)",
                    path=LEGACY_TREE, present=False)
    package = agent_package(name=f"pbs-agent {deb.version} (Debian package, apt-get install)",
                            src=str(deb.path), version=deb.version, sha256=deb.sha256)
    systemd.daemon_reload(name="systemd daemon-reload for pbs-agent",
                          _if=any_changed(legacy_unit, package))
    if token is not None:
        secret_file(name=f"Agent API token {TOKEN_FILE} (secret, never printed)",
                    path=TOKEN_FILE, secret=token, owner="root", group=USER)
    config = files.put(name=f"Agent config {CONFIG}", dest=CONFIG, mode="640", group=USER,
                       src=templates.render_io("agent/config.toml.j2", settings=settings,
                                               datastores=stores))
    systemd.service(name="pbs-agent.service enabled and running", service="pbs-agent",
                    running=True, enabled=True)
    systemd.service(name="Restart pbs-agent after changes", service="pbs-agent",
                    restarted=True, _if=any_changed(config, package))


def _node_exporter(args: list[str]) -> None:
    defaults = files.put(name="prometheus-node-exporter flags",
                         dest="/etc/default/prometheus-node-exporter", mode="644",
                         src=templates.render_io("node_exporter/prometheus-node-exporter.j2",
                                                 args=args))
    hardening = files.put(name="prometheus-node-exporter unit hardening (drop-in)",
                          dest=NODE_EXPORTER_DROPIN, mode="644",
                          src=templates.render_io("node_exporter/hardening.conf.j2"))
    systemd.daemon_reload(name="systemd daemon-reload for the node-exporter drop-in",
                          _if=hardening.did_change)
    systemd.service(name="prometheus-node-exporter enabled and running",
                    service="prometheus-node-exporter", running=True, enabled=True)
    systemd.service(name="Restart prometheus-node-exporter after flag or unit changes",
                    service="prometheus-node-exporter", restarted=True,
                    _if=any_changed(defaults, hardening))
