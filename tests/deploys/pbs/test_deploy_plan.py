"""The PBS configuration and the hand-off's PBS side, planned and run against a fake
three-host fleet (the PVE side: tests/deploys/pve/test_pve_plan.py).

Facts come from canned simulator-shaped output; operations run with pyinfra's CLI ordering
(call-stack identity), so cross-host order (tokens before remote/pvesm) is the real one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from cryptography.x509.oid import NameOID
from pyinfra.api.exceptions import DeployError

from deploys.pbs import context, desired
from tests.deploys.fleet import (
    FP1,
    FP2,
    PBS1,
    PBS2,
    PVE1,
    SECRET,
    fleet_data,
    pbs_only,
    pbs_only_any_version,
    responses,
    run_fleet,
)


def fresh(tmp_path: Path, **overrides):
    data = fleet_data(tmp_path, **overrides)
    resp = {PBS1: responses(FP1), PBS2: responses(FP2), PVE1: {}}
    return run_fleet(data, resp, execute=True)


def pbs_lines(commands: list[str], needle: str) -> list[str]:
    return [c for c in commands if needle in c]


def test_fresh_fleet_creates_everything_in_cross_host_order(tmp_path: Path) -> None:
    run = fresh(tmp_path)
    assert run.error is None, run.error
    pbs1, pbs2, pve1 = (run.commands[h] for h in (PBS1, PBS2, PVE1))
    assert pbs_lines(pbs1, "datastore create store1 /mnt/datastore/store1 --gc-schedule daily")
    assert pbs_lines(pbs1, "prune-job create store1-prune --keep-daily 7 --keep-weekly 4 "
                           "--schedule daily --store store1")
    assert pbs_lines(pbs2, "prune-job create offsite-prune --keep-daily 14 --keep-weekly 8")
    assert pbs_lines(pbs1, "user generate-token pve-clustera@pbs pve")
    # least privilege: user AND token, on the namespace only
    for auth in ("pve-clustera@pbs", "'pve-clustera@pbs!pve'"):
        assert pbs_lines(pbs1, f"acl update /datastore/store1/clustera DatastoreBackup "
                               f"--auth-id {auth} ")
    assert pbs_lines(pbs1, "acl update /datastore/store1 DatastoreReader --auth-id "
                           "'sync@pbs!fake-pbs2'")
    assert pbs_lines(pbs2, "acl update /remote/fake-pbs1 RemoteSyncOperator --auth-id sync@pbs")
    [remote] = pbs_lines(pbs2, "remote create fake-pbs1")
    assert f"--fingerprint {FP1}" in remote and "--host 10.0.0.11" in remote
    assert "--password '*MASKED*'" in remote
    assert pbs_lines(pbs2, "sync-job create offsite-from-fake-pbs1 --owner sync@pbs "
                           "--rate-in 100MiB --remote fake-pbs1 --remote-store store1 "
                           "--remove-vanished false --schedule hourly --store offsite")
    [add] = pbs_lines(pve1, "pvesm add pbs pbs-fake-pbs1-store1")
    assert "--username 'pve-clustera@pbs!pve'" in add and f"--fingerprint {FP1}" in add
    assert "--namespace clustera" in add and "--password '*MASKED*'" in add


def test_secrets_are_stored_0600_and_never_in_commands(tmp_path: Path) -> None:
    run = fresh(tmp_path)
    assert run.error is None, run.error
    store = tmp_path / "secrets.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    saved = json.loads(store.read_text())
    assert saved[f"token:{PBS1}:pve-clustera@pbs!pve"] == SECRET
    for commands in run.commands.values():
        assert not any(SECRET in c for c in commands)


def test_existing_token_without_secret_is_not_regenerated(tmp_path: Path) -> None:
    data = fleet_data(tmp_path)
    state = {"user": [{"userid": "pve-clustera@pbs"}, {"userid": "pbs-agent@pbs"},
                      {"userid": "sync@pbs"}],
             "tokens": [{"tokenid": "pve-clustera@pbs!pve"}]}
    resp = {PBS1: responses(FP1, state), PBS2: responses(FP2), PVE1: {}}
    run = run_fleet(data, resp, execute=True)
    assert not pbs_lines(run.commands[PBS1], "generate-token pve-clustera@pbs pve")
    assert not pbs_lines(run.commands[PBS1], "delete-token")


def test_regenerate_deletes_and_reissues_the_token(tmp_path: Path) -> None:
    data = fleet_data(tmp_path, **{PBS1: {"pbs_regenerate_tokens": ["pve-clustera@pbs!pve"]}})
    state = {"user": [{"userid": "pve-clustera@pbs"}],
             "tokens": [{"tokenid": "pve-clustera@pbs!pve"}]}
    resp = {PBS1: responses(FP1, state), PBS2: responses(FP2), PVE1: {}}
    run = run_fleet(data, resp, execute=True)
    pbs1 = run.commands[PBS1]
    delete = next(i for i, c in enumerate(pbs1) if "delete-token pve-clustera@pbs pve" in c)
    generate = next(i for i, c in enumerate(pbs1) if "generate-token pve-clustera@pbs pve" in c)
    assert delete < generate


def test_one_changed_retention_value_changes_exactly_that_job(tmp_path: Path) -> None:
    data = fleet_data(tmp_path, **{PBS1: {"pbs_datastores": {"store1": {
        "prune": {"keep_daily": 9, "keep_weekly": 4}, "verify": None}}}})
    current = {"datastore": [{"name": "store1", "path": "/mnt/datastore/store1",
                              "gc-schedule": "daily",
                              "notification-mode": "notification-system"}],
               "prune-job": [{"id": "store1-prune", "store": "store1", "schedule": "daily",
                              "keep-daily": 7, "keep-weekly": 4}]}
    resp = {PBS1: responses(FP1, current), PBS2: responses(FP2), PVE1: {}}
    run = run_fleet(data, resp, execute=False)
    pbs1_changes = [n for n in run.changing(PBS1) if "prune" in n or "Datastore" in n]
    assert pbs1_changes == ["prune-job store1-prune"]


def test_inconsistent_inventory_stops_with_one_line(tmp_path: Path) -> None:
    data = fleet_data(tmp_path, **{PVE1: {"pve_pbs_storages": [{"pbs": PBS1,
                                                                "datastore": "nope"}]}})
    run = run_fleet(data, {PBS1: responses(FP1), PBS2: responses(FP2), PVE1: {}})
    assert isinstance(run.error, Exception)
    assert "datastore 'nope'" in str(run.error) and "\n" not in str(run.error)


def test_safe_ids() -> None:
    assert desired.safe_id("@fake/pbs2") == "fake-pbs2"
    assert desired.pve_storage_id("PBS1.example.com", "store1") == "pbs-pbs1.example.com-store1"


def test_remote_is_pinned_at_execution_when_the_peer_had_no_cert_at_planning(
        tmp_path: Path) -> None:
    """A bare fleet: pbs1's PBS (and certificate) only appear during the run."""
    data = fleet_data(tmp_path)
    planning_fact = re.compile(r"^if command -v proxmox-backup-manager.*cert info")
    resp = {PBS1: {planning_fact: "", **responses(FP1)}, PBS2: responses(FP2), PVE1: {}}
    run = run_fleet(data, resp, execute=True, func=pbs_only)
    assert run.error is None, run.error
    [remote] = pbs_lines(run.commands[PBS2], "remote create fake-pbs1")
    assert f"--fingerprint {FP1}" in remote
    assert any("cert info" in c and "command -v" not in c for c in run.commands[PBS1])


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pbs1.example.net")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "pbs1.pem", tmp_path / "pbs1.key"
    cert_path.write_bytes(cert.public_bytes(Encoding.PEM))
    key_path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return cert_path, key_path


def test_custom_certificate_is_uploaded_and_its_fingerprint_pinned(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    data = fleet_data(tmp_path, **{PBS1: {"pbs_certificate": {"cert": str(cert),
                                                              "key": str(key)}}})
    run = run_fleet(data, {PBS1: responses(FP1), PBS2: responses(FP2), PVE1: {}},
                    execute=True)
    assert run.error is None, run.error
    expected = context.pem_fingerprint(cert.read_bytes())
    assert expected != FP1
    [remote] = pbs_lines(run.commands[PBS2], "remote create fake-pbs1")
    assert f"--fingerprint {expected}" in remote
    [add] = pbs_lines(run.commands[PVE1], "pvesm add pbs")
    assert f"--fingerprint {expected}" in add
    assert any(c.startswith("chown root:backup /etc/proxmox-backup/proxy.pem")
               for c in run.commands[PBS1])


@pytest.mark.parametrize(("version", "reuse", "message"), [
    (3, True, "PBS 3 has no --reuse-datastore"),
    (4, False, "set reuse_existing to re-attach it"),
])
def test_existing_chunk_store_is_refused_before_anything_runs(
        tmp_path: Path, version: int, reuse: bool, message: str) -> None:
    data = fleet_data(tmp_path, **{PBS1: {"pbs_version": version, "pbs_datastores": {
        "store1": {"reuse_existing": reuse}}}})
    paths = {"stat -c %U:%G": "backup:backup\tchunks\t/mnt/datastore/store1"}
    run = run_fleet(data, {PBS1: {**paths, **responses(FP1)}, PBS2: responses(FP2),
                           PVE1: {}}, execute=True, func=pbs_only_any_version)
    assert isinstance(run.error, DeployError) and message in str(run.error)
    assert not any("manager datastore create" in c for cmds in run.commands.values()
                   for c in cmds)


def test_pbs4_reattaches_an_existing_chunk_store(tmp_path: Path) -> None:
    data = fleet_data(tmp_path, **{PBS1: {"pbs_version": 4}})
    paths = {"stat -c %U:%G": "backup:backup\tchunks\t/mnt/datastore/store1"}
    run = run_fleet(data, {PBS1: {**paths, **responses(FP1)}, PBS2: responses(FP2),
                           PVE1: {}}, execute=True, func=pbs_only_any_version)
    assert run.error is None, run.error
    assert pbs_lines(run.commands[PBS1], "datastore create store1 /mnt/datastore/store1 "
                                         "--gc-schedule daily --notification-mode "
                                         "notification-system --reuse-datastore true")


def test_removal_only_of_listed_objects_that_exist(tmp_path: Path) -> None:
    data = fleet_data(tmp_path, **{PBS1: {"pbs_remove": {
        "sync-job": ["old-sync", "gone-sync"], "token": ["ops@pbs!ci"],
        "datastore": ["legacy"]}}})
    state = {"sync-job": [{"id": "old-sync", "store": "store1"}],
             "datastore": [{"name": "legacy", "path": "/mnt/datastore/legacy"}],
             "tokens": [{"tokenid": "ops@pbs!ci"}]}
    run = run_fleet(data, {PBS1: responses(FP1, state), PBS2: responses(FP2), PVE1: {}},
                    execute=True, func=pbs_only)
    pbs1 = run.commands[PBS1]
    assert pbs_lines(pbs1, "manager sync-job remove old-sync ")
    assert not pbs_lines(pbs1, "gone-sync")
    assert pbs_lines(pbs1, "manager user delete-token ops@pbs ci ")
    [remove] = pbs_lines(pbs1, "manager datastore remove legacy ")
    assert "destroy-data" not in remove
