"""The simulators behave like PBS / PVE where the deploy depends on it."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from deploys.pbs import keyfile
from lab.simulators import DIRECTORY as SIMULATORS


def test_unknown_option_is_rejected_like_pbs(pbm) -> None:
    proc = pbm("datastore", "create", "store1", "/mnt/datastore/store1", "--gc-schedul", "daily")
    assert proc.returncode == 255
    assert proc.stderr.startswith("Error: parameter verification errors\n\n"
                                  "parameter 'gc-schedul': schema does not allow additional "
                                  "properties.\n")
    assert "Usage: proxmox-backup-manager datastore create <name> <path>" in proc.stderr


def test_wrong_value_types_give_pbs_messages(pbm) -> None:
    assert pbm("datastore", "create", "store1", "/mnt/datastore/store1").returncode == 0
    cases = {
        ("--keep-daily", "seven"): "parameter 'keep-daily': invalid digit found in string",
        ("--keep-daily", "0"): "parameter 'keep-daily': value must have a minimum value of 1 "
                               "(got 0)",
        ("--disable", "maybe"): None,  # bool flag followed by a non-bool = flag + extra arg
    }
    for (opt, val), message in cases.items():
        proc = pbm("prune-job", "create", "p-store1", "--store", "store1", "--schedule", "daily",
                   opt, val)
        assert proc.returncode == 255, (opt, val)
        if message:
            assert message in proc.stderr
    proc = pbm("verify-job", "create", "v-store1", "--store", "store1",
               "--ignore-verified", "yes", "--outdated-after", "x")
    assert "parameter 'outdated-after': invalid digit found in string" in proc.stderr
    proc = pbm("datastore", "update", "store1", "--tuning", "chunk-order=random")
    assert "value 'random' is not defined in the enumeration." in proc.stderr


def test_version_gated_options(pbm) -> None:
    bare = ("datastore", "create", "st4", "/mnt/datastore/st4", "--reuse-datastore", "true")
    proc = pbm(*bare, version="3.4.1")
    assert "parameter 'reuse-datastore': schema does not allow additional" in proc.stderr
    proc = pbm("datastore", "create", "st2", "/mnt/datastore/st2", "--tuning",
               "gc-atime-cutoff=60", version="3.2.4")
    assert proc.returncode == 255 and "gc-atime-cutoff" in proc.stderr
    assert pbm("datastore", "create", "st3", "/mnt/datastore/st3", "--tuning",
               "gc-atime-cutoff=60", version="3.4.1").returncode == 0


def test_versions_names_the_simulated_release(pbm) -> None:
    proc = pbm("versions", version="4.0.18")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("proxmox-backup-server 4.0.18-1 running version: 4.0.18 ")


def test_existing_chunk_store_needs_reuse_on_pbs4(pbm, sim_root: Path) -> None:
    (sim_root / "mnt/datastore/old/.chunks").mkdir(parents=True)
    proc = pbm("datastore", "create", "old", "/mnt/datastore/old", version="3.4.1")
    assert proc.returncode == 255 and "File exists" in proc.stderr
    proc = pbm("datastore", "create", "old", "/mnt/datastore/old", "--reuse-datastore", "true",
               version="4.0.18")
    assert proc.returncode == 0, proc.stderr
    assert (sim_root / "mnt/datastore/old/.chunks").is_dir()


def test_generate_token_prints_secret_once_and_stores_a_hash(pbm, sim_root: Path) -> None:
    assert pbm("user", "create", "pve-a@pbs").returncode == 0
    proc = pbm("user", "generate-token", "pve-a@pbs", "pve")
    assert proc.returncode == 0
    assert proc.stdout.startswith("Result: {\n")
    result = json.loads(proc.stdout[len("Result: "):])
    assert result["tokenid"] == "pve-a@pbs!pve"
    secret = result["value"]
    conf = sim_root / "etc/proxmox-backup"
    shadow = json.loads((conf / "token.shadow").read_text())
    assert secret not in (conf / "token.shadow").read_text()
    assert shadow["pve-a@pbs!pve"].startswith("$5$")
    assert stat.S_IMODE((conf / "token.shadow").stat().st_mode) == 0o640
    again = pbm("user", "generate-token", "pve-a@pbs", "pve")
    assert again.returncode == 255 and "already exists" in again.stderr
    listed = pbm("user", "list-tokens", "pve-a@pbs", "--output-format", "json")
    assert secret not in listed.stdout


def test_acl_file_format_and_unknown_auth_id(pbm, sim_root: Path) -> None:
    pbm("user", "create", "a@pbs")
    pbm("user", "generate-token", "a@pbs", "t")
    for auth in ("a@pbs", "a@pbs!t"):
        assert pbm("acl", "update", "/datastore/s1/ns1", "DatastoreBackup", "--auth-id",
                   auth).returncode == 0
    text = (sim_root / "etc/proxmox-backup/acl.cfg").read_text()
    assert text == "acl:1:/datastore/s1/ns1:a@pbs,a@pbs!t:DatastoreBackup\n"
    proc = pbm("acl", "update", "/datastore/s1", "DatastoreBackup", "--auth-id", "b@pbs!x")
    assert proc.returncode == 255 and "no such API token 'b@pbs!x'" in proc.stderr
    proc = pbm("acl", "update", "/datastore/s1", "SuperUser", "--auth-id", "a@pbs")
    assert "value 'SuperUser' is not defined in the enumeration." in proc.stderr


def test_remote_password_is_base64_and_never_listed(pbm, sim_root: Path) -> None:
    fp = ":".join(["0f"] * 32)
    assert pbm("remote", "create", "pbs1", "--host", "192.0.2.1", "--auth-id", "sync@pbs!x",
               "--password", "pw-123", "--fingerprint", fp).returncode == 0
    assert "\tpassword cHctMTIz\n" in (sim_root / "etc/proxmox-backup/remote.cfg").read_text()
    assert "pw-123" not in pbm("remote", "list", "--output-format", "json").stdout
    proc = pbm("remote", "update", "pbs1", "--fingerprint", "nope")
    assert "parameter 'fingerprint': value does not match the regex pattern" in proc.stderr


# --- pvesm -------------------------------------------------------------------------------------

def pvesm(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PVE_SIMULATOR_ROOT": str(root)}
    return subprocess.run([str(SIMULATORS / "pvesm"), *args], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def tls_server(sim_root: Path, pbm):
    """The proxy simulator on a free port (real openssl s_server) with a fresh cert."""
    assert pbm("cert", "update").returncode == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PBS_SIMULATOR_ROOT": str(sim_root)}
    proc = subprocess.Popen([str(SIMULATORS / "proxmox-backup-proxy"), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    fingerprint = pbm("cert", "info").stdout.split("Fingerprint (sha256): ")[1].split()[0]
    yield port, fingerprint
    proc.terminate()
    proc.wait(timeout=10)


def test_pvesm_add_writes_storage_cfg_and_private_files(tmp_path: Path, tls_server) -> None:
    port, fp = tls_server
    key = keyfile.key_config(keyfile.generate_key())
    proc = pvesm(tmp_path, "add", "pbs", "pbs-a", "--server", "127.0.0.1", "--port", str(port),
                 "--datastore", "store1", "--username", "pve-a@pbs!pve", "--password", "sek",
                 "--fingerprint", fp, "--namespace", "cluster-a",
                 "--encryption-key", json.dumps(key))
    assert proc.returncode == 0, proc.stderr
    cfg = (tmp_path / "etc/pve/storage.cfg").read_text()
    assert cfg.startswith("dir: local\n")
    assert (f"pbs: pbs-a\n\tserver 127.0.0.1\n\tport {port}\n\tdatastore store1\n"
            f"\tusername pve-a@pbs!pve\n\tfingerprint {fp}\n\tnamespace cluster-a\n"
            f"\tcontent backup\n\tencryption-key {key['fingerprint']}\n") in cfg
    pw = tmp_path / "etc/pve/priv/storage/pbs-a.pw"
    assert pw.read_text() == "sek\n" and stat.S_IMODE(pw.stat().st_mode) == 0o600
    assert "sek" not in cfg


def test_pvesm_refuses_wrong_fingerprint_and_unknown_option(tmp_path: Path, tls_server) -> None:
    port, _fp = tls_server
    base = ["add", "pbs", "x1", "--server", "127.0.0.1", "--port", str(port),
            "--datastore", "s"]
    proc = pvesm(tmp_path, *base, "--fingerprint", ":".join(["00"] * 32))
    assert proc.returncode == 255 and "fingerprint mismatch" in proc.stderr
    proc = pvesm(tmp_path, *base, "--bogus", "1")
    assert proc.returncode == 255
    assert proc.stderr.startswith("400 Parameter verification failed.\nbogus: property is not "
                                  "defined in schema")
    proc = pvesm(tmp_path, *base, "--port", "eighty")
    assert "port: type check ('integer') failed - got 'eighty'" in proc.stderr


def test_pvesm_set_updates_fingerprint_and_rejects_fixed(tmp_path: Path, tls_server) -> None:
    port, fp = tls_server
    assert pvesm(tmp_path, "add", "pbs", "p1", "--server", "127.0.0.1", "--port", str(port),
                 "--datastore", "s", "--fingerprint", fp).returncode == 0
    assert pvesm(tmp_path, "set", "p1", "--password", "new").returncode == 0
    assert (tmp_path / "etc/pve/priv/storage/p1.pw").read_text() == "new\n"
    proc = pvesm(tmp_path, "set", "p1", "--datastore", "other")
    assert "datastore: can't change value of fixed parameter" in proc.stderr
    assert "p1" in pvesm(tmp_path, "status").stdout
