"""The PBS configuration as an unprivileged SSH user with ``_sudo=True`` (the usual way in).

Token secrets are captured by callbacks that run ``proxmox-backup-manager`` themselves; they
must use the inventory's sudo like every operation does. PBS is the SIMULATOR
(lab/simulators), SSH, sudo and pyinfra are real.
"""

from __future__ import annotations

import json

from lab.pbs_setup import prepare_pbs
from lab.sandbox import run_pyinfra

DEPLOY = "deploys/pbs_config.py"
SETUP_DEPLOY_USER = (
    "id deploy >/dev/null 2>&1 || useradd -m -s /bin/sh deploy; "
    "install -d -m 700 -o deploy -g deploy /home/deploy/.ssh; "
    "install -m 600 -o deploy -g deploy /root/.ssh/authorized_keys "
    "/home/deploy/.ssh/authorized_keys; "
    "echo 'deploy ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/deploy; chmod 440 /etc/sudoers.d/deploy"
)


def test_tokens_are_created_through_sudo(fresh_sandbox_host, tmp_path):
    host = fresh_sandbox_host
    prepare_pbs(host)
    host.exec(SETUP_DEPLOY_USER)
    store = tmp_path / "secrets.json"
    data = {"ssh_user": "deploy", "_sudo": True, "pbs_secrets_file": str(store),
            "pbs_report_dir": str(tmp_path / "reports"), "pbs_datastores": {"store1": {}}}
    inventory = host.write_inventory(tmp_path / "sudo.py", data, groups=["pbs"])
    first = run_pyinfra(inventory, DEPLOY).check()
    assert any("Token pbs-agent@pbs!metrics" in name for name, _ in first.changed), first.changed
    secrets = json.loads(store.read_text())
    assert any(key.endswith("pbs-agent@pbs!metrics") for key in secrets), sorted(secrets)
    assert "pbs-agent@pbs!metrics" in host.exec("cat /etc/proxmox-backup/token.shadow").stdout
    assert run_pyinfra(inventory, DEPLOY).check().changed_ops == 0
