"""Each command line against the syntax in pbs-internals.md §6, and accepted by the simulator."""

from __future__ import annotations

import shlex

import pytest
from pyinfra.api import HiddenValue

from deploys.pbs import commands as c

PBM = "proxmox-backup-manager"


def test_datastore_create_positional_name_and_path_then_sorted_options() -> None:
    argv = c.datastore_create("store1", "/mnt/datastore/store1", {
        "gc-schedule": "daily", "notify": {"gc": "error", "verify": "always"},
        "tuning": {"sync-level": "filesystem", "chunk-order": "inode"},
        "maintenance-mode": {"type": "read-only", "message": "migrating"},
        "verify-new": True})
    assert argv == [PBM, "datastore", "create", "store1", "/mnt/datastore/store1",
                    "--gc-schedule", "daily",
                    "--maintenance-mode", "type=read-only,message=migrating",
                    "--notify", "gc=error,verify=always",
                    "--tuning", "chunk-order=inode,sync-level=filesystem",
                    "--verify-new", "true"]


def test_datastore_create_reuse_flag_is_pbs4_create_only_option() -> None:
    assert c.datastore_create("s1", "/mnt/datastore/s1", {}, reuse_datastore=True)[-2:] == [
        "--reuse-datastore", "true"]
    assert "--reuse-datastore" not in c.datastore_update("s1", {"comment": "x"})


def test_datastore_update_and_remove_never_destroy_data() -> None:
    assert c.datastore_update("s1", {"gc-schedule": "weekly"}, delete=["notify", "comment"]) == [
        PBM, "datastore", "update", "s1", "--gc-schedule", "weekly",
        "--delete", "comment", "--delete", "notify"]
    assert c.datastore_remove("s1") == [PBM, "datastore", "remove", "s1"]


def test_user_and_token_commands() -> None:
    assert c.user_create("pve-a@pbs", {"comment": "PVE a", "enable": True}) == [
        PBM, "user", "create", "pve-a@pbs", "--comment", "PVE a", "--enable", "true"]
    assert c.token_generate("pve-a@pbs", "pve", {"comment": "c"}) == [
        PBM, "user", "generate-token", "pve-a@pbs", "pve", "--comment", "c"]
    assert c.token_delete("pve-a@pbs", "pve") == [PBM, "user", "delete-token", "pve-a@pbs", "pve"]
    assert c.token_list("a@pbs") == [PBM, "user", "list-tokens", "a@pbs", "--output-format",
                                     "json"]


def test_acl_update_uses_auth_id_and_only_non_default_flags() -> None:
    assert c.acl_update("/datastore/store1/ns1", "DatastoreBackup", "a@pbs!t") == [
        PBM, "acl", "update", "/datastore/store1/ns1", "DatastoreBackup", "--auth-id", "a@pbs!t"]
    assert c.acl_update("/", "Audit", "a@pbs", propagate=False, delete=True)[-4:] == [
        "--propagate", "false", "--delete", "true"]


def test_prune_job_create_has_store_and_schedule() -> None:
    argv = c.prune_job_create("store1-daily", {"store": "store1", "schedule": "daily",
                                               "keep-daily": 7, "keep-weekly": 4, "ns": "a"})
    assert argv == [PBM, "prune-job", "create", "store1-daily", "--keep-daily", "7",
                    "--keep-weekly", "4", "--ns", "a", "--schedule", "daily", "--store", "store1"]


def test_verify_job_create_and_update() -> None:
    assert c.job_create("verify-job", "v1", {"store": "s1", "schedule": "weekly",
                                              "outdated-after": 30, "ignore-verified": True}) == [
        PBM, "verify-job", "create", "v1", "--ignore-verified", "true", "--outdated-after", "30",
        "--schedule", "weekly", "--store", "s1"]
    assert c.job_update("verify-job", "v1", {}, delete=["outdated-after"]) == [
        PBM, "verify-job", "update", "v1", "--delete", "outdated-after"]


def test_sync_job_repeats_group_filter_and_keeps_rate_strings() -> None:
    argv = c.job_create("sync-job", "pull-s1", {
        "store": "s1", "remote": "pbs1", "remote-store": "s1", "schedule": "hourly",
        "remove-vanished": False, "rate-in": "100MiB", "group-filter": ["type:vm", "type:ct"]})
    assert argv == [PBM, "sync-job", "create", "pull-s1", "--group-filter", "type:vm",
                    "--group-filter", "type:ct", "--rate-in", "100MiB", "--remote", "pbs1",
                    "--remote-store", "s1", "--remove-vanished", "false", "--schedule", "hourly",
                    "--store", "s1"]


def test_unknown_job_kind_is_a_typed_error() -> None:
    with pytest.raises(ValueError, match="unknown job kind 'tape-job'"):
        c.job_create("tape-job", "x", {})


def test_remote_create_masks_password_in_printed_command() -> None:
    argv = c.remote_create("pbs1", {"host": "192.0.2.1", "auth-id": "sync@pbs!off",
                                    "fingerprint": "ab:" * 31 + "ab"},
                           HiddenValue("s3cr3t-value"))
    command = c.to_command(argv)
    assert "--auth-id sync@pbs!off" not in command.get_masked_value()  # quoted because of '!'
    assert "'sync@pbs!off'" in command.get_masked_value()
    assert "s3cr3t-value" not in command.get_masked_value()
    assert "*MASKED*" in command.get_masked_value()
    assert shlex.split(command.get_raw_value())[-2:] == ["--password", "s3cr3t-value"]


def test_node_update_ciphers_and_cert_info() -> None:
    assert c.node_update({"ciphers-tls-1.2": "A:B", "ciphers-tls-1.3": "TLS_AES_256_GCM_SHA384"}
                         ) == [PBM, "node", "update", "--ciphers-tls-1.2", "A:B",
                               "--ciphers-tls-1.3", "TLS_AES_256_GCM_SHA384"]
    assert c.node_update({}, delete=["ciphers-tls-1.2"]) == [
        PBM, "node", "update", "--delete", "ciphers-tls-1.2"]
    assert c.cert_info() == [PBM, "cert", "info"]


def test_parse_result_reads_pretty_json_after_result_prefix() -> None:
    lines = ["Result: {", '  "tokenid": "a@pbs!t",', '  "value": "x-y"', "}"]
    assert c.parse_result(lines) == {"tokenid": "a@pbs!t", "value": "x-y"}
    with pytest.raises(ValueError, match="no 'Result:'"):
        c.parse_result(["nothing"])


def test_every_builder_is_accepted_by_the_simulator(pbm, pbm_json) -> None:
    """The builders' output runs unchanged against the PBS simulator (round trip)."""
    steps = [
        c.datastore_create("store1", "/mnt/datastore/store1",
                           {"gc-schedule": "daily", "tuning": {"chunk-order": "none"},
                            "notify": {"gc": "error"}, "verify-new": True}),
        c.datastore_update("store1", {"maintenance-mode": {"type": "read-only"}}),
        c.user_create("pve-a@pbs", {"comment": "cluster a"}),
        c.token_generate("pve-a@pbs", "pve", {}),
        c.acl_update("/datastore/store1", "DatastoreBackup", "pve-a@pbs!pve"),
        c.prune_job_create("store1-prune", {"store": "store1", "schedule": "daily",
                                            "keep-daily": 7, "keep-weekly": 4}),
        c.job_create("verify-job", "store1-verify", {"store": "store1", "schedule": "weekly",
                                                     "outdated-after": 30}),
        c.remote_create("pbs2", {"host": "192.0.2.2", "auth-id": "sync@pbs!pull"},
                        HiddenValue("pw")),
        c.job_create("sync-job", "store1-pull", {"store": "store1", "remote": "pbs2",
                                                 "remote-store": "store1",
                                                 "group-filter": ["type:vm"]}),
        c.node_update({"ciphers-tls-1.3": "TLS_AES_256_GCM_SHA384"}),
    ]
    for argv in steps:
        raw = shlex.split(c.to_command(argv).get_raw_value())
        proc = pbm(*raw[1:])
        assert proc.returncode == 0, (raw, proc.stderr)
    assert pbm_json("prune-job", "list") == [{"id": "store1-prune", "store": "store1",
                                              "schedule": "daily", "keep-daily": 7,
                                              "keep-weekly": 4}]
    [store] = pbm_json("datastore", "list")
    assert store["maintenance-mode"] == "type=read-only"
    assert pbm_json("sync-job", "list")[0]["group-filter"] == ["type:vm"]
