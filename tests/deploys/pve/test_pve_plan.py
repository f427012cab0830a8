"""The PVE side of the hand-off planned against a fake three-host fleet: pvesm command lines,
storages updated (never re-added) on a changed fingerprint, encrypted storages converged,
refusals of fixed options."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pyinfra.api.exceptions import DeployError

from deploys.pbs import keyfile
from deploys.pve import commands as pve_commands
from tests.deploys.fleet import FP1, FP2, PBS1, PBS2, PVE1, SECRET, fleet_data, responses, run_fleet


def test_pve_storage_with_a_changed_fingerprint_is_updated_not_readded(tmp_path: Path) -> None:
    data = fleet_data(tmp_path)
    store = tmp_path / "secrets.json"
    store.write_text(json.dumps({f"token:{PBS1}:pve-clustera@pbs!pve": SECRET}))
    store.chmod(0o600)
    old = ":".join(["0f"] * 32)
    cfg = ("dir: local\n\tpath /var/lib/vz\n\n"
           "pbs: pbs-fake-pbs1-store1\n\tserver 10.0.0.11\n\tdatastore store1\n"
           "\tusername pve-clustera@pbs!pve\n\tnamespace clustera\n\tcontent backup\n"
           f"\tfingerprint {old}\n")
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    pve = {"cat /etc/pve/storage.cfg": cfg, "priv/storage": f"pbs-fake-pbs1-store1 {digest}"}
    run = run_fleet(data, {PBS1: responses(FP1), PBS2: responses(FP2), PVE1: pve},
                    execute=True)
    assert run.error is None, run.error
    pvesm = [c for c in run.commands[PVE1] if "pvesm" in c]
    assert len(pvesm) == 1 and "pvesm set pbs-fake-pbs1-store1 --fingerprint " + FP1 in pvesm[0]
    assert "--password" not in pvesm[0]  # the stored secret already matches


def test_pvesm_command_lines() -> None:
    assert pve_commands.pvesm_add("s1", {"server": "h", "datastore": "d", "port": 8008}) == [
        "pvesm", "add", "pbs", "s1", "--datastore", "d", "--port", "8008", "--server", "h"]
    assert pve_commands.pvesm_set("s1", {"fingerprint": "ab"}, ["namespace", "encryption-key"]
                                  ) == ["pvesm", "set", "s1", "--fingerprint", "ab",
                                        "--delete", "encryption-key,namespace"]
    assert pve_commands.pvesm_remove("s1") == ["pvesm", "remove", "s1"]


def test_encrypted_storage_shown_as_1_with_our_key_file_is_converged(tmp_path: Path) -> None:
    """Some PVE versions write ``encryption-key 1``: the key file's digest decides."""
    data = fleet_data(tmp_path, **{PVE1: {"pve_pbs_storages": [
        {"pbs": PBS1, "datastore": "store1", "encryption": True}]}})
    key_text = keyfile.dumps(keyfile.key_config(keyfile.generate_key())).strip()
    store = tmp_path / "secrets.json"
    store.write_text(json.dumps({f"token:{PBS1}:pve-clustera@pbs!pve": SECRET,
                                 "enckey:clustera:pbs-fake-pbs1-store1": key_text}))
    store.chmod(0o600)
    cfg = ("pbs: pbs-fake-pbs1-store1\n\tserver 10.0.0.11\n\tdatastore store1\n"
           "\tusername pve-clustera@pbs!pve\n\tnamespace clustera\n\tcontent backup\n"
           f"\tfingerprint {FP1}\n\tencryption-key 1\n")
    sha = hashlib.sha256
    flat = key_text.replace("\n", "").encode()
    digests = (f"pbs-fake-pbs1-store1 {sha(SECRET.encode()).hexdigest()}\n"
               f"pbs-fake-pbs1-store1.enc {sha(flat).hexdigest()}")
    pve = {"cat /etc/pve/storage.cfg": cfg, "priv/storage": digests}
    run = run_fleet(data, {PBS1: responses(FP1), PBS2: responses(FP2), PVE1: pve},
                    execute=True)
    assert run.error is None, run.error
    assert not [c for c in run.commands[PVE1] if "pvesm" in c]


def test_changed_fixed_pve_option_is_refused_with_one_line(tmp_path: Path) -> None:
    data = fleet_data(tmp_path)
    cfg = ("pbs: pbs-fake-pbs1-store1\n\tserver 10.9.9.9\n\tdatastore store1\n"
           f"\tfingerprint {FP1}\n")
    run = run_fleet(data, {PBS1: responses(FP1), PBS2: responses(FP2),
                           PVE1: {"cat /etc/pve/storage.cfg": cfg}})
    assert isinstance(run.error, DeployError)
    assert "has server 10.9.9.9, the inventory says 10.0.0.11" in str(run.error)
