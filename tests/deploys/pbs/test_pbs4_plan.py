"""PBS 4 objects as code, planned and run against the fake fleet: S3 endpoints (secret key from
the controller store, masked), S3-backed and removable datastores (create-only options
refused when changed), tuning keys, notification targets and matchers (secrets masked, pushed
only when they differ), every datastore on notification-system."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from deploys import schema
from deploys.pbs import secretcmd
from deploys.secrets import SecretStore
from deploys.secrets import main as secrets_main
from tests.deploys.fleet import (
    FP1,
    FP2,
    PBS1,
    PBS2,
    PVE1,
    fleet_data,
    pbs_only_any_version,
    responses,
    run_fleet,
)

UUID = "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"
S3_SECRET = "s3-secret-value-never-printed"
SMTP_PASSWORD = "smtp-password-never-printed"
WEBHOOK_SECRETS = {"token": "hook-token-never-printed"}

PBS4 = {
    "pbs_version": 4,
    "pbs_s3_endpoints": {"ceph": {"endpoint": "10.0.0.5", "port": 7480, "access_key": "AK1",
                                  "path_style": True, "fingerprint": FP2}},
    "pbs_datastores": {
        "store1": {"tuning": {"gc_atime_cutoff": 1445, "gc_cache_capacity": 1048576}},
        "cloud": {"path": "/srv/cache/cloud",
                  "backend": {"type": "s3", "client": "ceph", "bucket": "pbs-cloud"}},
        "usb1": {"backing_device": UUID, "gc_on_unmount": True},
    },
    "pbs_notification_targets": {
        "relay": {"type": "smtp", "server": "mail.example.org", "mode": "starttls",
                  "username": "pbs", "from_address": "pbs@example.org",
                  "mailto": ["ops@example.org"]},
        "hook": {"type": "webhook", "url": "https://hooks.example.org/pbs",
                 "header": {"Authorization": "Bearer {{ secrets.token }}"},
                 "body": '{"text": "{{ escape title }}"}'},
    },
    "pbs_notification_matchers": {
        "failures": {"match_severity": ["warning,error"], "target": ["relay", "hook"]},
    },
}


def _store_secrets(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets.json")
    store.put(f"s3:{PBS1}:ceph", S3_SECRET)
    store.put(f"notify:{PBS1}:relay", SMTP_PASSWORD)
    store.put(f"notify:{PBS1}:hook", json.dumps(WEBHOOK_SECRETS))


def _run(tmp_path: Path, state: dict | None = None, extra: dict | None = None,
         device_attached: bool = True):
    data = fleet_data(tmp_path, **{PBS1: {**PBS4, **(extra or {})}})
    resp = {**responses(FP1, state)}
    if device_attached:
        resp[f"/dev/disk/by-uuid/{UUID}"] = "attached"
    return run_fleet(data, {PBS1: resp, PBS2: responses(FP2), PVE1: {}}, execute=True,
                     func=pbs_only_any_version)


def lines(run, needle: str) -> list[str]:
    return [c for c in run.commands[PBS1] if needle in c]


def test_fresh_pbs4_host_gets_endpoint_datastores_and_notifications(tmp_path: Path) -> None:
    _store_secrets(tmp_path)
    run = _run(tmp_path)
    assert run.error is None, run.error
    everything = "\n".join(run.commands[PBS1])
    for secret in (S3_SECRET, SMTP_PASSWORD, WEBHOOK_SECRETS["token"]):
        assert secret not in everything
    [endpoint] = lines(run, "s3 endpoint create ceph")
    assert "--access-key AK1 --endpoint 10.0.0.5" in endpoint
    assert f"--fingerprint {FP2}" in endpoint and "--secret-key '*MASKED*'" in endpoint
    ep_at = run.commands[PBS1].index(endpoint)
    [cloud] = lines(run, "datastore create cloud /srv/cache/cloud")
    assert "--backend type=s3,bucket=pbs-cloud,client=ceph" in cloud
    assert run.commands[PBS1].index(cloud) > ep_at  # the endpoint exists first
    [usb] = lines(run, "datastore create usb1 usb1")
    assert f"--backing-device {UUID}" in usb and "--gc-on-unmount true" in usb
    assert not lines(run, "mkdir -p usb1")  # no directory for a device-relative path
    [store1] = lines(run, "datastore create store1")
    assert "--tuning gc-atime-cutoff=1445,gc-cache-capacity=1048576" in store1
    for create in (cloud, usb, store1):
        assert "--notification-mode notification-system" in create
    [relay] = lines(run, "notification endpoint smtp create relay")
    assert "--mode starttls" in relay and "--password '*MASKED*'" in relay
    [hook] = lines(run, "notification endpoint webhook create hook")
    assert "--method post" in hook and "--secret '*MASKED*'" in hook
    header = "name=Authorization,value=" + _b64("Bearer {{ secrets.token }}")
    assert f"--header {header}" in hook
    [matcher] = lines(run, "notification matcher create failures")
    assert run.commands[PBS1].index(matcher) > run.commands[PBS1].index(hook)


def _b64(text: str) -> str:
    import base64
    return base64.b64encode(text.encode()).decode()


def _converged_state() -> dict:
    return {"datastore": [
        {"name": "store1", "path": "/mnt/datastore/store1", "gc-schedule": "daily",
         "notification-mode": "notification-system",
         "tuning": "gc-atime-cutoff=1445,gc-cache-capacity=1048576"},
        {"name": "cloud", "path": "/srv/cache/cloud", "gc-schedule": "daily",
         "notification-mode": "notification-system",
         "backend": "bucket=pbs-cloud,client=ceph,type=s3"},
        {"name": "usb1", "path": "usb1", "gc-schedule": "daily", "backing-device": UUID,
         "gc-on-unmount": True, "notification-mode": "notification-system"}]}


def test_secrets_are_pushed_only_when_they_differ(tmp_path: Path) -> None:
    _store_secrets(tmp_path)
    state = _converged_state()
    s3_list = json.dumps([{"id": "ceph", "endpoint": "10.0.0.5", "port": 7480,
                           "access-key": "AK1", "path-style": True, "fingerprint": FP2}])
    smtp_list = json.dumps([{"name": "relay", "server": "mail.example.org", "mode": "starttls",
                             "username": "pbs", "from-address": "pbs@example.org",
                             "mailto": ["ops@example.org"]}])
    digest = hashlib.sha256(S3_SECRET.encode()).hexdigest()
    extra_resp = {"s3 endpoint list": s3_list, "endpoint smtp list": smtp_list,
                  "secret-key": f"ceph {digest}",
                  "k=password": f"relay {secretcmd.secret_digest('password', SMTP_PASSWORD)}"}
    data = fleet_data(tmp_path, **{PBS1: {**PBS4, "pbs_notification_targets": {
        "relay": PBS4["pbs_notification_targets"]["relay"]}, "pbs_notification_matchers": {}}})
    resp = {**responses(FP1, state), **extra_resp,
            f"/dev/disk/by-uuid/{UUID}": "attached"}
    run = run_fleet(data, {PBS1: resp, PBS2: responses(FP2), PVE1: {}}, execute=True,
                    func=pbs_only_any_version)
    assert run.error is None, run.error
    changing = [c for c in run.commands[PBS1] if "out=$(" in c and (
        "s3 endpoint" in c or "notification endpoint" in c)]
    assert changing == []
    assert not lines(run, "datastore update") and not lines(run, "datastore create")
    # a rotated S3 secret is pushed (masked), nothing else changes
    SecretStore(tmp_path / "secrets.json").put(f"s3:{PBS1}:ceph", "rotated-secret")
    run = run_fleet(data, {PBS1: resp, PBS2: responses(FP2), PVE1: {}}, execute=True,
                    func=pbs_only_any_version)
    [update] = lines(run, "s3 endpoint update ceph")
    assert "s3 endpoint update ceph --secret-key '*MASKED*' 2>&1" in update
    assert "rotated" not in update


def test_create_only_options_are_refused_with_one_line(tmp_path: Path) -> None:
    _store_secrets(tmp_path)
    state = _converged_state()
    state["datastore"][1]["backend"] = "bucket=old-bucket,client=ceph,type=s3"
    run = _run(tmp_path, state)
    assert run.error is not None
    text = str(run.error)
    assert "datastore cloud: backend is bucket=old-bucket,client=ceph,type=s3 on PBS" in text
    assert "only at creation" in text and "\n" not in text


def test_absent_removable_device_is_skipped_not_failed(tmp_path: Path) -> None:
    _store_secrets(tmp_path)
    run = _run(tmp_path, device_attached=False)
    assert run.error is None, run.error
    assert not lines(run, "datastore create usb1") and not lines(run, "usb1-prune")
    assert lines(run, "datastore create store1")


def test_missing_s3_secret_stops_with_the_command_to_add_it(tmp_path: Path) -> None:
    run = _run(tmp_path)
    assert f"add it with: python3 -m deploys.secrets set s3:{PBS1}:ceph" in str(run.error)


@pytest.mark.parametrize(("spec", "message"), [
    ({"usb": {"backing_device": "0A1B2C3D-AAAA-BBBB-CCCC-0123456789AB"}}, "lower case"),
    ({"usb": {"backing_device": UUID, "path": "/mnt/usb"}}, "relative to the device"),
    ({"st1": {"gc_on_unmount": True}}, "needs a backing_device"),
    ({"st1": {"backend": {"type": "s3", "client": "ceph"}}}, "'bucket' is required"),
    ({"st1": {"tuning": {"gc_atime_cutoff": 2881}}}, "gc_atime_cutoff must be 1..2880"),
    ({"st1": {"tuning": {"gc_atime_cutof": 60}}}, "unknown key 'gc_atime_cutof'"),
])
def test_inventory_checks(spec: dict, message: str) -> None:
    problem = schema.REGISTRY["pbs_datastores"].check(spec)
    assert problem is not None and message in problem


def test_secret_cli_reads_stdin_and_stores_0600(tmp_path: Path, monkeypatch, capsys) -> None:
    import io
    import stat
    store = tmp_path / "s" / "secrets.json"
    monkeypatch.setattr("sys.stdin", io.StringIO("the-secret\n"))
    assert secrets_main(["--file", str(store), "set", f"s3:{PBS1}:ceph"]) == 0
    assert SecretStore(store).get(f"s3:{PBS1}:ceph") == "the-secret"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert "the-secret" not in capsys.readouterr().out
