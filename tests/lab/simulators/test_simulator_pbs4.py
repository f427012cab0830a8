"""The proxmox-backup-manager SIMULATOR speaks PBS 4 (sources: PBS 4.2.3 / proxmox-rs, see
docs/pbs-config.md) and still refuses what PBS refuses: S3 endpoints, S3-backed and removable
datastores, notification targets and matchers, 4.x tuning keys."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import removable, s3_standin

V4 = "4.2.3"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3_standin.StandIn]:
    with s3_standin.running(tmp_path_factory.mktemp("s3")) as server:
        yield server


def endpoint_args(server: s3_standin.StandIn, **extra: str) -> list[str]:
    opts = {**server.endpoint_options(), **extra}
    return [arg for key, val in opts.items() for arg in (f"--{key}", val)]


def test_s3_commands_do_not_exist_before_pbs4(pbm) -> None:
    proc = pbm("s3", "endpoint", "list", version="3.4.1")
    assert proc.returncode == 255 and proc.stderr == "Error: no such command 's3'\n"


def test_s3_endpoint_config_file_and_secret(pbm, sim_root: Path, s3) -> None:
    proc = pbm("s3", "endpoint", "create", "lab-s3", *endpoint_args(s3), version=V4)
    assert proc.returncode == 0, proc.stderr
    cfg = sim_root / "etc/proxmox-backup/s3.cfg"
    assert cfg.read_text() == (
        "s3-endpoint: lab-s3\n"
        f"\taccess-key {s3_standin.ACCESS_KEY}\n"
        "\tendpoint 127.0.0.1\n"
        f"\tfingerprint {s3.fingerprint}\n"
        "\tpath-style true\n"
        f"\tport {s3.port}\n"
        f"\tregion {s3_standin.REGION}\n"
        f"\tsecret-key {s3_standin.SECRET_KEY}\n")
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o640
    listed = pbm("s3", "endpoint", "list", "--output-format", "json", version=V4)
    rows = json.loads(listed.stdout)
    assert rows[0]["id"] == "lab-s3" and rows[0]["path-style"] is True
    assert "secret-key" not in rows[0] and s3_standin.SECRET_KEY not in listed.stdout
    again = pbm("s3", "endpoint", "create", "lab-s3", *endpoint_args(s3), version=V4)
    assert "s3 client config 'lab-s3' already exists." in again.stderr


def test_s3_endpoint_refusals(pbm, s3) -> None:
    bad = pbm("s3", "endpoint", "create", "ep1",
              *endpoint_args(s3, endpoint="https://127.0.0.1"), version=V4)
    assert bad.returncode == 255
    assert "parameter 'endpoint': value does not match the regex pattern" in bad.stderr
    no_secret = pbm("s3", "endpoint", "create", "ep2", "--endpoint", "s3.example.org",
                    "--access-key", "x", version=V4)
    assert "parameter 'secret-key': parameter is missing and it is not optional." \
        in no_secret.stderr
    assert pbm("s3", "endpoint", "create", "ep3", *endpoint_args(s3, **{"put-rate-limit": "5"}),
               version=V4).returncode == 0
    # put-rate-limit is not in the update API's DeletableProperty enum
    proc = pbm("s3", "endpoint", "update", "ep3", "--delete", "put-rate-limit", version=V4)
    assert "parameter 'delete': value 'put-rate-limit' is not defined in the enumeration." \
        in proc.stderr
    assert pbm("s3", "endpoint", "update", "ep3", "--delete", "region", version=V4).returncode == 0


def test_s3_datastore_end_to_end_on_the_standin(pbm, sim_root: Path, s3) -> None:
    client = s3.boto3()
    s3_standin.make_bucket(client, "pbs-sim")
    assert pbm("s3", "endpoint", "create", "lab-s3", *endpoint_args(s3),
               version=V4).returncode == 0
    missing = pbm("datastore", "create", "s3store", "/mnt/datastore/s3store-cache",
                  "--backend", "type=s3,client=lab-s3,bucket=no-such-bucket", version=V4)
    assert missing.returncode == 255 and "failed to access bucket" in missing.stderr
    ok = pbm("datastore", "create", "s3store", "/mnt/datastore/s3store-cache",
             "--backend", "bucket=pbs-sim,client=lab-s3,type=s3", version=V4)
    assert ok.returncode == 0, ok.stderr
    marker = client.get_object(Bucket="pbs-sim", Key="s3store/.in-use")["Body"].read()
    assert json.loads(marker) == {"hostname": os.uname().nodename}
    text = (sim_root / "etc/proxmox-backup/datastore.cfg").read_text()
    assert text == ("datastore: s3store\n\tbackend bucket=pbs-sim,client=lab-s3,type=s3\n"
                    "\tpath /mnt/datastore/s3store-cache\n")
    assert (sim_root / "mnt/datastore/s3store-cache/.chunks").is_dir()
    # create-only: the backend cannot be changed by update
    upd = pbm("datastore", "update", "s3store", "--backend", "type=filesystem", version=V4)
    assert "parameter 'backend': schema does not allow additional properties." in upd.stderr
    # the endpoint cannot be removed while a datastore uses it
    rm = pbm("s3", "endpoint", "remove", "lab-s3", version=V4)
    assert rm.returncode == 255 and rm.stderr == "Error: in-use by datastore s3store\n"
    # another host's marker: refused unless --overwrite-in-use
    client.put_object(Bucket="pbs-sim", Key="other/.in-use", Body=b'{"hostname":"pbs-b"}')
    taken = pbm("datastore", "create", "other", "/mnt/datastore/other-cache", "--backend",
                "bucket=pbs-sim,client=lab-s3,type=s3", version=V4)
    assert "Bucket already contains datastore in use by host pbs-b" in taken.stderr
    assert pbm("datastore", "create", "other", "/mnt/datastore/other-cache", "--backend",
               "bucket=pbs-sim,client=lab-s3,type=s3", "--overwrite-in-use", "true",
               version=V4).returncode == 0
    # removing the datastore drops only the in-use marker
    assert pbm("datastore", "remove", "s3store", version=V4).returncode == 0
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="pbs-sim").get("Contents", [])]
    assert "s3store/.in-use" not in keys and "other/.in-use" in keys


def test_wrong_fingerprint_is_refused(pbm, s3) -> None:
    s3_standin.make_bucket(s3.boto3(), "pbs-pin")
    wrong = ":".join(["00"] * 32)
    assert pbm("s3", "endpoint", "create", "pinned", *endpoint_args(s3, fingerprint=wrong),
               version=V4).returncode == 0
    proc = pbm("s3", "check", "pinned", "pbs-pin", version=V4)
    assert proc.returncode == 255 and "unexpected certificate fingerprint" in proc.stderr
    assert pbm("s3", "endpoint", "update", "pinned", "--fingerprint", s3.fingerprint,
               version=V4).returncode == 0
    assert pbm("s3", "check", "pinned", "pbs-pin", version=V4).returncode == 0


@pytest.mark.parametrize(("backend", "message"), [
    ("type=filesystem,client=x3s", "additional option client, not allowed for backend type "
                                   "filesystem"),
    ("type=s3,client=abc", "missing option bucket, required for backend type s3"),
    ("type=s3,client=abc,bucket=xn--bad", "Bucket name cannot start with 'xn--'"),
    ("type=nfs", "value 'nfs' is not defined in the enumeration."),
])
def test_backend_property_string_is_checked(pbm, backend: str, message: str) -> None:
    proc = pbm("datastore", "create", "st1", "/mnt/datastore/st1", "--backend", backend,
               version=V4)
    assert proc.returncode == 255 and message in proc.stderr


def test_backend_is_unknown_to_pbs3(pbm) -> None:
    proc = pbm("datastore", "create", "st1", "/mnt/datastore/st1", "--backend", "type=filesystem",
               version="3.4.1")
    assert "parameter 'backend': schema does not allow additional properties." in proc.stderr


def test_removable_datastore_refusals(pbm, sim_root: Path) -> None:
    uuid = "0f2b1c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    proc = pbm("datastore", "create", "usb1", "/mnt/datastore/usb1", "--backing-device", uuid,
               version=V4)
    assert "expected a relative on-device path, '/mnt/datastore/usb1' is not" in proc.stderr
    proc = pbm("datastore", "create", "st1", "/mnt/datastore/st1", "--gc-on-unmount", "true",
               version=V4)
    assert "parameter 'gc-on-unmount': only supported on removable datastores" in proc.stderr
    proc = pbm("datastore", "create", "usb1", "pbs/usb1", "--backing-device", "not-a-uuid",
               version=V4)
    assert "parameter 'backing-device': value does not match the regex pattern" in proc.stderr
    absent = pbm("datastore", "create", "usb1", "pbs/usb1", "--backing-device", uuid, version=V4)
    assert absent.returncode == 255 and "mount: can't find UUID" in absent.stderr
    assert not (sim_root / "etc/proxmox-backup/datastore.cfg").exists()
    gc_unmount = pbm("datastore", "create", "usb1", "pbs/usb1", "--backing-device", uuid,
                     "--gc-on-unmount", "true", version="4.1.7")
    assert "parameter 'gc-on-unmount': schema does not allow additional" in gc_unmount.stderr
    mount = pbm("datastore", "mount", "nope", version=V4)
    assert mount.stderr == "Error: datastore 'nope' does not exist.\n"


@pytest.mark.skipif(os.geteuid() != 0 or removable.available() is not None,
                    reason=f"needs root and loop devices ({removable.available()})")
def test_removable_datastore_is_really_mounted(pbm, sim_root: Path, tmp_path: Path) -> None:
    with removable.loop_ext4(tmp_path / "usb.img", sim_root) as dev:
        ok = pbm("datastore", "create", "usb1", "pbs/usb1", "--backing-device", dev.uuid,
                 "--gc-on-unmount", "true", version=V4)
        assert ok.returncode == 0, ok.stderr
        point = sim_root / "mnt/datastore/usb1"
        mounts = Path("/proc/self/mountinfo").read_text()
        assert f" {point} " in mounts
        assert (point / ".chunks").is_dir()
        nested = pbm("datastore", "create", "usb2", "pbs/usb1/inner", "--backing-device",
                     dev.uuid, version=V4)
        assert "paths on backing device must not be nested" in nested.stderr
        assert pbm("datastore", "unmount", "usb1", version=V4).returncode == 0
        assert f" {point} " not in Path("/proc/self/mountinfo").read_text()
        assert not (point / ".chunks").exists()
        again = pbm("datastore", "mount", "usb1", version=V4)
        assert again.returncode == 0, again.stderr
        assert (point / ".chunks").is_dir()
        assert pbm("datastore", "unmount", "usb1", version=V4).returncode == 0


def test_pbs4_tuning_keys(pbm) -> None:
    args = ("datastore", "create", "st1", "/mnt/datastore/st1", "--tuning",
            "gc-atime-cutoff=1445,gc-cache-capacity=1048576,default-verification-workers=4")
    proc = pbm(*args, version="4.0.21")
    assert "parameter 'default-verification-workers': schema does not allow" in proc.stderr
    assert pbm(*args, version=V4).returncode == 0
    proc = pbm("datastore", "update", "st1", "--tuning", "gc-atime-cutoff=2881", version=V4)
    assert "value must have a maximum value of 2880 (got 2881)" in proc.stderr


def test_notification_targets_and_matchers(pbm, pbm_json, sim_root: Path) -> None:
    conf = sim_root / "etc/proxmox-backup"
    assert pbm("notification", "target", "list", version="3.1.2").stderr == \
        "Error: no such command 'notification'\n"
    builtins = pbm("notification", "target", "list", "--output-format", "json", version=V4)
    assert json.loads(builtins.stdout) == [{"name": "mail-to-root", "type": "sendmail",
                                            "origin": "builtin", "disable": False,
                                            "comment": "Send mails to root@pam's email address"}]
    norcpt = pbm("notification", "endpoint", "smtp", "create", "relay", "--server", "127.0.0.1",
                 "--from-address", "pbs@example.org", version=V4)
    assert "must at least provide one recipient, either in mailto or in mailto-user" \
        in norcpt.stderr
    ok = pbm("notification", "endpoint", "smtp", "create", "relay", "--server", "127.0.0.1",
             "--port", "2525", "--mode", "insecure", "--username", "pbs", "--password", "hunter2",
             "--from-address", "pbs@example.org", "--mailto", "ops@example.org",
             "--mailto", "oncall@example.org", version=V4)
    assert ok.returncode == 0, ok.stderr
    assert (conf / "notifications.cfg").read_text() == (
        "smtp: relay\n\tfrom-address pbs@example.org\n\tmailto ops@example.org\n"
        "\tmailto oncall@example.org\n\tmode insecure\n\tport 2525\n\tserver 127.0.0.1\n"
        "\tusername pbs\n")
    priv = conf / "notifications-priv.cfg"
    assert priv.read_text() == "smtp: relay\n\tpassword hunter2\n"
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert "hunter2" not in pbm("notification", "endpoint", "smtp", "list", version=V4).stdout
    dup = pbm("notification", "endpoint", "webhook", "create", "mail-to-root", "--url",
              "http://127.0.0.1/x", "--method", "post", version=V4)
    assert "Cannot create 'mail-to-root', an entity with the same name already exists" \
        in dup.stderr
    ghost = pbm("notification", "matcher", "create", "errors", "--target", "nowhere", version=V4)
    assert ghost.stderr == "Error: endpoint 'nowhere' does not exist\n"
    assert pbm("notification", "matcher", "create", "errors", "--target", "relay",
               "--match-severity", "warning,error", "--match-field", "exact:type=gc,verify",
               "--mode", "all", version=V4).returncode == 0
    bad_field = pbm("notification", "matcher", "update", "errors", "--match-field", "type",
                    version=V4)
    assert "parameter 'match-field': value does not match the regex pattern" in bad_field.stderr
    used = pbm("notification", "endpoint", "smtp", "delete", "relay", version=V4)
    assert used.stderr == "Error: cannot delete 'relay', referenced by: errors\n"
    matchers = pbm_json("notification", "matcher", "list")
    assert {m["name"] for m in matchers} == {"errors", "default-matcher"}
