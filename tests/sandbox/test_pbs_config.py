"""PBS configuration + PVE hand-off end to end on three sandbox hosts over real SSH.

pbs1 (group pbs), pbs2 (group pbs_offsite, pulls from pbs1) and pve1 (group pve). PBS and PVE
cannot be installed here: the hosts run the SIMULATORS from lab/simulators
(proxmox-backup-manager keeping the real /etc/proxmox-backup files, pvesm keeping the real
/etc/pve/storage.cfg, and proxmox-backup-proxy = real ``openssl s_server`` configured like
PBS's acceptor, as a systemd unit). Everything else is real: SSH, pyinfra, systemd, OpenSSL.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from lab.pbs_setup import prepare_pbs, write_fleet_inventory
from lab.sandbox import run_pyinfra

DEPLOY = "deploys/pbs_config.py"
@pytest.fixture(scope="module")
def fleet(sandbox_hosts, tmp_path_factory):
    pbs1, pbs2, pve1 = sandbox_hosts(3)
    tmp = tmp_path_factory.mktemp("pbscfg")
    fp1 = prepare_pbs(pbs1)
    prepare_pbs(pbs2)
    pve1.install_simulators()
    common = {"pbs_secrets_file": str(tmp / "secrets" / "secrets.json"),
              "pbs_report_dir": str(tmp / "reports")}

    def inventory(store1_keep_daily: int = 7, store1_extra: dict | None = None) -> Path:
        store1: dict[str, Any] = {"namespaces": ["tenant-a"],
                                  "prune": {"keep_daily": store1_keep_daily, "keep_weekly": 4},
                                  "tuning": {"chunk-order": "none"},
                                  "notify": {"gc": "error"}}
        if store1_extra:
            store1["extra"] = store1_extra
        entries = {
            "pbs1": (pbs1.inventory_entry({**common, "pbs_datastores": {"store1": store1}}),
                     ["pbs"]),
            "pbs2": (pbs2.inventory_entry({
                **common, "pbs_datastores": {"offsite": {"prune": {"keep_daily": 14}}},
                "pbs_tls_openssl_conf": True,
                "pbs_sync_jobs": [{"remote": pbs1.name, "remote_store": "store1",
                                   "store": "offsite", "rate_in": "50MiB"}]}),
                     ["pbs_offsite"]),
            "pve1": (pve1.inventory_entry({
                **common, "pve_cluster": "clustera",
                "pve_pbs_storages": [{"pbs": pbs1.name, "datastore": "store1",
                                      "encryption": True}]}), ["pve"]),
        }
        return write_fleet_inventory(tmp / "fleet.py", entries)

    first = run_pyinfra(inventory(), DEPLOY, "-v")
    shadow = pbs1.exec("cat /etc/proxmox-backup/token.shadow").stdout
    second = run_pyinfra(inventory(), DEPLOY, "-v")
    return {"pbs1": pbs1, "pbs2": pbs2, "pve1": pve1, "fp1": fp1, "tmp": tmp,
            "inventory": inventory, "first": first, "second": second, "shadow": shadow,
            "store": tmp / "secrets" / "secrets.json"}


def test_fleet_converges_and_second_run_changes_nothing(fleet):
    first = fleet["first"].check()
    assert first.changed_ops and first.changed_ops >= 20, first.changed
    second = fleet["second"].check()
    assert second.changed_ops == 0, second.changed


def test_pbs1_objects_are_in_the_real_config_files(fleet):
    pbs1 = fleet["pbs1"]
    cfg = pbs1.exec("cat /etc/proxmox-backup/datastore.cfg").stdout
    # keys sorted, as PBS's section config writes them (serde_json map)
    assert cfg.startswith("datastore: store1\n\tgc-schedule daily\n")
    assert "\tnotification-mode notification-system\n" in cfg
    assert "\tpath /mnt/datastore/store1\n" in cfg
    assert "\tnotify gc=error\n" in cfg and "\ttuning chunk-order=none\n" in cfg
    prune = pbs1.exec("cat /etc/proxmox-backup/prune.cfg").stdout
    assert "prune: store1-prune\n" in prune and "\tkeep-daily 7\n" in prune
    assert "\tkeep-weekly 4\n" in prune
    assert "verification: store1-verify\n" in pbs1.exec(
        "cat /etc/proxmox-backup/verification.cfg").stdout
    owner = pbs1.exec("stat -c %U:%G /mnt/datastore/store1 /mnt/datastore/store1/ns/tenant-a "
                      "/mnt/datastore/store1/ns/clustera").stdout.split()
    assert owner == ["backup:backup"] * 3
    acl = pbs1.exec("cat /etc/proxmox-backup/acl.cfg").stdout
    assert ("acl:1:/datastore/store1/clustera:pve-clustera@pbs,pve-clustera@pbs!pve:"
            "DatastoreBackup\n") in acl
    assert "acl:1:/datastore/store1:sync@pbs,sync@pbs!" in acl and ":DatastoreReader\n" in acl
    assert "Admin" not in acl.replace("DatastoreAdmin", "")


def test_offsite_remote_pins_the_peer_fingerprint_and_syncs(fleet):
    pbs2 = fleet["pbs2"]
    remote = pbs2.exec("cat /etc/proxmox-backup/remote.cfg").stdout
    assert f"\tfingerprint {fleet['fp1']}\n" in remote
    assert f"\thost {fleet['pbs1'].address}\n" in remote
    sync = pbs2.exec("cat /etc/proxmox-backup/sync.cfg").stdout
    assert "\tremote-store store1\n" in sync and "\trate-in 50MiB\n" in sync
    assert "\towner sync@pbs\n" in sync
    acl = pbs2.exec("cat /etc/proxmox-backup/acl.cfg").stdout
    assert "RemoteSyncOperator" in acl


def test_pve_storage_entry_with_token_fingerprint_namespace_and_key(fleet):
    pve1 = fleet["pve1"]
    cfg = pve1.exec("cat /etc/pve/storage.cfg").stdout
    storage_id = f"pbs-{fleet['pbs1'].name}-store1".lower()
    assert f"pbs: {storage_id}\n" in cfg
    assert f"\tfingerprint {fleet['fp1']}\n" in cfg
    assert "\tusername pve-clustera@pbs!pve\n" in cfg and "\tnamespace clustera\n" in cfg
    secrets = json.loads(fleet["store"].read_text())
    token = secrets[f"token:{fleet['pbs1'].name}:pve-clustera@pbs!pve"]
    assert pve1.exec(f"cat /etc/pve/priv/storage/{storage_id}.pw").stdout == token + "\n"
    key = json.loads(secrets[f"enckey:clustera:{storage_id}"])
    assert f"\tencryption-key {key['fingerprint']}\n" in cfg
    master = fleet["store"].parent / "keys" / f"clustera-{storage_id}.json"
    assert stat.S_IMODE(master.stat().st_mode) == 0o600


def test_token_secrets_never_in_output_file_0600_and_not_regenerated(fleet):
    store = fleet["store"]
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    secrets = json.loads(store.read_text())
    tokens = {k: v for k, v in secrets.items() if k.startswith("token:")}
    assert len(tokens) >= 4
    for run in (fleet["first"], fleet["second"]):
        for value in secrets.values():
            assert value not in run.output
    assert fleet["shadow"] == fleet["pbs1"].exec("cat /etc/proxmox-backup/token.shadow").stdout


def test_tls13_only_on_8007_seen_by_the_deploy_and_by_a_peer(fleet):
    report = json.loads((fleet["tmp"] / "reports" / "hardening.json").read_text())
    probe = report[fleet["pbs1"].name]["tls_probe"]
    assert probe["policy_seen"] == "TLS 1.3 only" and probe["protocol"] == "TLSv1.3"
    pbs1 = fleet["pbs1"].address
    old = fleet["pve1"].exec(f"echo | openssl s_client -connect {pbs1}:8007 -tls1_2",
                             check=False)
    assert old.returncode != 0
    new = fleet["pve1"].exec(f"echo | openssl s_client -connect {pbs1}:8007 -tls1_3",
                             check=False)
    assert new.returncode == 0 and "TLSv1.3" in new.stdout
    assert "Hardening report for" in fleet["first"].stderr


def test_changing_one_retention_value_changes_exactly_that_job(fleet):
    result = run_pyinfra(fleet["inventory"](store1_keep_daily=9), DEPLOY).check()
    [(op_name, host_name)] = result.changed  # pyinfra names a shared op after any host's
    assert host_name == fleet["pbs1"].name and "prune-job" in op_name, result.changed
    prune = fleet["pbs1"].exec("cat /etc/proxmox-backup/prune.cfg").stdout
    assert "\tkeep-daily 9\n" in prune and "\tkeep-weekly 4\n" in prune
    offsite = fleet["pbs2"].exec("cat /etc/proxmox-backup/prune.cfg").stdout
    assert "\tkeep-daily 14\n" in offsite


def test_pbs_errors_surface_as_one_line(fleet):
    bad = run_pyinfra(fleet["inventory"](store1_extra={"bogus-option": "1"}), DEPLOY)
    assert bad.returncode != 0
    lines = [line for line in bad.stderr.splitlines() if "PBS refused" in line]
    assert len(lines) == 1, bad.stderr[-3000:]
    assert lines[0].endswith("PBS refused datastore update store1: parameter verification "
                             "errors; parameter 'bogus-option': schema does not allow "
                             "additional properties.")
    wrong = run_pyinfra(fleet["inventory"](store1_extra={"keep-daily": "seven"}), DEPLOY)
    lines = [line for line in wrong.stderr.splitlines() if "PBS refused" in line]
    assert len(lines) == 1 and "parameter 'keep-daily': invalid digit found in string" in \
        lines[0], wrong.stderr[-3000:]
    assert run_pyinfra(fleet["inventory"](store1_keep_daily=9), DEPLOY).check().changed_ops == 0


def test_pve_link_entry_finds_the_hand_off_converged(fleet):
    """deploys/pve_link.py (namespaces, tokens, ACLs, pvesm) on the converged fleet: no change."""
    result = run_pyinfra(fleet["inventory"](store1_keep_daily=9), "deploys/pve_link.py").check()
    assert result.changed_ops == 0, result.changed
    names = [op["name"] for op in result.report["results"]["operations"]]
    assert any("PBS storage" in name for name in names), names


def test_openssl_conf_dropin_gives_the_proxy_a_tls13_minimum(fleet):
    """pbs2 also has the OPENSSL_CONF lock: TLS 1.2 now fails with a protocol_version alert
    (before any cipher choice), i.e. the systemd drop-in reached the proxy's OpenSSL."""
    pbs2 = fleet["pbs2"]
    env = pbs2.exec("systemctl show -p Environment proxmox-backup-proxy").stdout
    assert "OPENSSL_CONF=/etc/proxmox-backup/pbs-fleet-openssl.cnf" in env
    old = fleet["pve1"].exec(f"echo | openssl s_client -connect {pbs2.address}:8007 -tls1_2",
                             check=False)
    assert old.returncode != 0 and "protocol version" in old.stdout + old.stderr
    new = fleet["pve1"].exec(f"echo | openssl s_client -connect {pbs2.address}:8007 -tls1_3",
                             check=False)
    assert new.returncode == 0
    pbs1 = fleet["pbs1"].address  # pbs1 has only the cipher-list lock: a different alert
    plain = fleet["pve1"].exec(f"echo | openssl s_client -connect {pbs1}:8007 -tls1_2",
                               check=False)
    assert "handshake failure" in plain.stdout + plain.stderr
