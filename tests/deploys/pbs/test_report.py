"""Hardening report: parsing nft output, token roles, control verdicts, table and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from deploys.pbs import report, tls

#: ``nft list table inet pbs_fleet`` as nft prints the ruleset rendered by the nftables step
#: (single-element sets are printed without braces).
NFT = """table inet pbs_fleet {
	comment "managed by pbs-fleet"
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		ct state invalid drop
		meta l4proto icmp accept
		ip saddr 10.231.0.0/24 tcp dport 22 accept comment "ssh"
		ip saddr { 10.231.1.0/24, 192.0.2.0/24 } tcp dport 8007 accept comment "pbs"
		ip6 saddr 2001:db8::/64 tcp dport { 8007, 9100 } accept comment "pve"
		counter packets 0 bytes 0 comment "dropped by policy"
	}
}""".splitlines()

FP = ":".join(["ab"] * 32)
SEEN_TLS13 = {"tls1_2": False, "tls1_3": True, "protocol": "TLSv1.3",
              "cipher": "TLS_AES_256_GCM_SHA384", "policy_seen": "TLS 1.3 only"}


def test_parse_firewall_policy_and_sources() -> None:
    fw = report.parse_firewall(NFT)
    assert fw["input_policy"] == "drop"
    assert fw["pbs_8007_from"] == ["10.231.1.0/24", "192.0.2.0/24", "2001:db8::/64"]
    assert fw["ssh_from"] == ["10.231.0.0/24"]


def test_parse_firewall_without_table() -> None:
    assert report.parse_firewall([]) == {"input_policy": None, "pbs_8007_from": [],
                                         "ssh_from": []}


def test_token_roles_only_lists_tokens() -> None:
    acl = [{"path": "/datastore/s1", "ugid": "a@pbs", "roleid": "DatastoreBackup"},
           {"path": "/datastore/s1", "ugid": "a@pbs!t", "roleid": "DatastoreBackup"},
           {"path": "/", "ugid": "b@pbs!x", "roleid": "Audit"}]
    assert report.token_roles(acl) == {"a@pbs!t": ["DatastoreBackup@/datastore/s1"],
                                       "b@pbs!x": ["Audit@/"]}


def rows(**extra_over):
    extra = {"sshd_root": "prohibit-password", "uu_pkg": "1", "uu_on": "1",
             "firewall": report.parse_firewall(NFT), **extra_over}
    return report.controls("tls13", SEEN_TLS13, extra, {"edac": True, "aes_ni": True},
                           {"a@pbs!t": ["DatastoreBackup@/datastore/s1"]},
                           {"/mnt/datastore/s1": {"owner": "backup:backup"}}, FP)


def test_a_hardened_host_passes_every_control() -> None:
    verdicts = {r["control"]: r["ok"] for r in rows()}
    assert verdicts.pop("SSH allowed from") is None
    assert verdicts.pop("Proxy certificate (sha256)") is None
    assert all(verdicts.values()), verdicts
    assert len(verdicts) == 9


def test_failures_are_reported() -> None:
    bad = {r["control"]: r for r in rows(sshd_root="yes", uu_pkg="0")}
    assert bad["SSH root login"]["ok"] is False and bad["SSH root login"]["state"] == "yes"
    assert bad["Unattended security updates"]["ok"] is False
    seen12 = {**SEEN_TLS13, "tls1_2": True, "policy_seen": "TLS 1.2 + 1.3"}
    row = report.controls("tls13", seen12, {"firewall": report.parse_firewall([])}, {}, {},
                          {"/x": {"owner": "root:root"}}, FP)
    verdicts = {r["control"]: r["ok"] for r in row}
    assert not verdicts["TLS on 8007"] and not verdicts["Datastore ownership"]
    assert not verdicts["Firewall input default"] and not verdicts["ECC memory (EDAC)"]


def test_table_and_fleet_json(tmp_path: Path) -> None:
    text = report.table("pbs1", rows())
    assert text.splitlines()[0] == "Hardening report for pbs1:"
    assert "ok    TLS on 8007" in text
    report.write_json(str(tmp_path), "pbs1", rows(), SEEN_TLS13)
    report.write_json(str(tmp_path), "pbs2", rows(sshd_root="yes"), SEEN_TLS13)
    data = json.loads((tmp_path / "hardening.json").read_text())
    assert sorted(data) == ["pbs1", "pbs2"]
    assert data["pbs1"]["tls_probe"]["policy_seen"] == "TLS 1.3 only"
    assert tls.satisfies("tls13", data["pbs2"]["tls_probe"])


def test_a_host_without_pbs_gets_no_tls_verdict() -> None:
    seen = {"tls1_2": None, "tls1_3": None, "policy_seen": "unreachable"}
    row = report.controls("tls13", seen, {"firewall": report.parse_firewall([])}, {}, {}, {})
    assert row[0] == {"control": "TLS on 8007", "ok": None, "state": "no PBS on this host"}
