"""The PBS configuration step inside the full node deploy (deploys/pbs_host.py) on one sandbox
host: real apt, systemd, nftables and SSH; PBS itself is the SIMULATOR (lab/simulators/).

Checks that the step converges together with the other steps and that the hardening report
reads the real firewall and TLS state the deploy left behind.
"""

from __future__ import annotations

import json

import pytest

from lab.deploy_data import HEALTHY_OVERRIDES, keyring_server, pbs_host_data
from lab.pbs_setup import prepare_pbs
from lab.sandbox import run_pyinfra
from lab.sandbox.config import ALLOWED_NET

DEPLOY = "deploys/pbs_host.py"


@pytest.fixture(scope="module")
def node(sandbox_hosts, tmp_path_factory):
    [pbs] = sandbox_hosts(1)
    tmp = tmp_path_factory.mktemp("pbsnode")
    fingerprint = prepare_pbs(pbs)
    pbs.install_fact_overrides(HEALTHY_OVERRIDES)
    with keyring_server() as url:
        data = pbs_host_data(url, pbs_datastores={"store1": {}},
                             pbs_secrets_file=str(tmp / "secrets.json"),
                             pbs_report_dir=str(tmp / "reports"))
        inventory = pbs.write_inventory(tmp / "node.py", data, groups=["pbs"])
        first = run_pyinfra(inventory, DEPLOY)
        second = run_pyinfra(inventory, DEPLOY)
    report = json.loads((tmp / "reports" / "hardening.json").read_text())[pbs.name]
    return {"host": pbs, "first": first, "second": second, "report": report,
            "fingerprint": fingerprint}


def test_full_node_with_pbs_config_converges(node):
    first = node["first"].check()
    assert any("Datastore store1" in name for name, _ in first.changed), first.changed
    second = node["second"].check()
    assert second.changed_ops == 0, second.changed
    assert "datastore: store1" in node["host"].exec(
        "cat /etc/proxmox-backup/datastore.cfg").stdout


def test_report_reads_the_real_firewall_and_tls(node, client_allowed, client_denied):
    controls = {row["control"]: row for row in node["report"]["controls"]}
    assert controls["Firewall input default"] == {"control": "Firewall input default",
                                                  "ok": True, "state": "drop"}
    assert str(ALLOWED_NET) in controls["8007 allowed from"]["state"]
    assert controls["8007 allowed from"]["ok"] is True
    assert controls["TLS on 8007"]["ok"] is True
    assert controls["Proxy certificate (sha256)"]["state"] == node["fingerprint"]
    assert controls["Datastore ownership"]["state"] == "/mnt/datastore/store1=backup:backup"
    assert controls["AES-NI"]["ok"] is True  # from the TEST-ONLY fact overrides
    assert client_allowed.can_connect(node["host"].address, 8007)
    assert not client_denied.can_connect(node["host"].address, 8007)
