"""TLS policy for ``proxmox-backup-proxy`` on port 8007, and the probe that checks it.

PBS builds its acceptor from rust-openssl's ``SslAcceptor::mozilla_intermediate_v5`` (TLS 1.2
and 1.3, set with ``SSL_OP_NO_TLSv1|SSL_OP_NO_TLSv1_1`` options, not a minimum version), then
applies the node's ``ciphers-tls-1.3`` (ciphersuites) and ``ciphers-tls-1.2`` (cipher list).
There is no minimum-version knob (pbs-internals.md §6.6). Policies:

* ``tls13`` — TLS 1.3 only. ``ciphers-tls-1.2`` is set to a PSK-only list: PBS accepts it
  (it is a valid OpenSSL cipher list), but the proxy has no PSK callback, so OpenSSL can never
  select it and every TLS <= 1.2 handshake ends in ``handshake_failure``; TLS 1.3 ciphersuites
  are a separate list and unaffected. Optionally (``pbs_tls_openssl_conf``) a systemd drop-in
  also gives the proxy an ``OPENSSL_CONF`` with ``MinProtocol = TLSv1.3``: OpenSSL applies it
  in ``SSL_CTX_new`` and the Mozilla profile's option bits do not lower it (verified).
* ``modern`` — TLS 1.2 kept, only ECDHE + AEAD suites (no DHE, no CBC), TLS 1.3 AES-256 first.
* ``default`` — PBS's own defaults (both node keys deleted).
"""

from __future__ import annotations

from typing import Any

from deploys.conventions import PBS_PORT

MOZILLA_TLS12 = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                 "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                 "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384")
MOZILLA_TLS13 = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#: A valid cipher list that the proxy can never negotiate (no PSK callback): TLS <= 1.2 off.
UNNEGOTIABLE_TLS12 = "PSK-AES256-GCM-SHA384"
MODERN_TLS12 = ("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")
STRONG_TLS13 = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"

POLICIES: dict[str, dict[str, str | None]] = {
    "tls13": {"ciphers-tls-1.2": UNNEGOTIABLE_TLS12, "ciphers-tls-1.3": STRONG_TLS13},
    "modern": {"ciphers-tls-1.2": MODERN_TLS12, "ciphers-tls-1.3": STRONG_TLS13},
    "default": {"ciphers-tls-1.2": None, "ciphers-tls-1.3": None},
}
#: What each policy must look like from outside (checked by the probe).
EXPECTED = {"tls13": {"tls1_2": False, "tls1_3": True},
            "modern": {"tls1_2": True, "tls1_3": True},
            "default": {"tls1_2": True, "tls1_3": True}}

PROXY_UNIT = "proxmox-backup-proxy.service"
DROPIN_DIR = "/etc/systemd/system/proxmox-backup-proxy.service.d"
DROPIN_PATH = f"{DROPIN_DIR}/pbs-fleet-tls.conf"
OPENSSL_CONF_PATH = "/etc/proxmox-backup/pbs-fleet-openssl.cnf"


def node_changes(policy: str, current: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """(options to set, properties to delete) that bring node.cfg to *policy*."""
    if policy not in POLICIES:
        raise ValueError(f"unknown TLS policy {policy!r} (one of {', '.join(POLICIES)})")
    sets, deletes = {}, []
    for key, wanted in POLICIES[policy].items():
        if wanted is None and key in current:
            deletes.append(key)
        elif wanted is not None and current.get(key) != wanted:
            sets[key] = wanted
    return sets, deletes


def openssl_conf_text() -> str:
    """A standalone OpenSSL config whose system default refuses anything below TLS 1.3."""
    return ("# pbs-fleet: proxmox-backup-proxy refuses TLS < 1.3 (docs/pbs-config.md)\n"
            "openssl_conf = pbs_fleet_init\n\n"
            "[pbs_fleet_init]\nproviders = provider_sect\nssl_conf = ssl_sect\n\n"
            "[provider_sect]\ndefault = default_sect\n\n[default_sect]\nactivate = 1\n\n"
            "[ssl_sect]\nsystem_default = pbs_fleet_tls\n\n"
            "[pbs_fleet_tls]\nMinProtocol = TLSv1.3\nCipherString = DEFAULT:@SECLEVEL=2\n")


def dropin_text() -> str:
    """systemd drop-in pointing the proxy at :func:`openssl_conf_text`."""
    return ("# pbs-fleet: TLS 1.3 minimum for the proxy only (docs/pbs-config.md)\n"
            f"[Service]\nEnvironment=OPENSSL_CONF={OPENSSL_CONF_PATH}\n")


PROBE_MARK = "pbs-fleet-tls-probe"


def probe_command(port: int = PBS_PORT, address: str = "127.0.0.1") -> str:
    """Shell that tries TLS 1.2 and 1.3 against *address*:*port* with real ``openssl``.

    Prints ``pbs-fleet-tls-probe <version> ok|refused <negotiated protocol> <cipher>`` lines.
    """
    return (f"for v in tls1_2 tls1_3; do "
            f"out=$(echo | timeout 10 openssl s_client -connect {address}:{port} -$v 2>&1); "
            "got=$(printf '%s\\n' \"$out\" | "
            "sed -n 's/^New, \\([^,]*\\), Cipher is \\(.*\\)$/\\1 \\2/p' | head -n1); "
            "case \"$got\" in ''|*'(NONE)'*) "
            f"echo {PROBE_MARK} $v refused - - ;; "
            f"*) echo {PROBE_MARK} $v ok $got ;; esac; done")


def parse_probe(lines: list[str]) -> dict[str, Any]:
    """``{"tls1_2": bool, "tls1_3": bool, "protocol": "TLSv1.3", "cipher": …, "policy_seen"}``."""
    seen: dict[str, Any] = {"tls1_2": None, "tls1_3": None, "protocol": None, "cipher": None}
    for line in lines:
        parts = line.split()
        if len(parts) >= 5 and parts[0] == PROBE_MARK and parts[1] in ("tls1_2", "tls1_3"):
            ok = parts[2] == "ok"
            seen[parts[1]] = ok
            if ok:
                seen["protocol"], seen["cipher"] = parts[3], parts[4]
    seen["policy_seen"] = describe(seen)
    return seen


def describe(seen: dict[str, Any]) -> str:
    """One phrase for the report: ``TLS 1.3 only`` / ``TLS 1.2 + 1.3`` / ``unreachable``."""
    if seen.get("tls1_3") and seen.get("tls1_2") is False:
        return "TLS 1.3 only"
    if seen.get("tls1_3") and seen.get("tls1_2"):
        return "TLS 1.2 + 1.3"
    if seen.get("tls1_2"):
        return "TLS 1.2 only"
    return "unreachable"


def satisfies(policy: str, seen: dict[str, Any]) -> bool:
    """Did the probe see what *policy* promises?"""
    want = EXPECTED[policy]
    return all(seen.get(k) is v for k, v in want.items())
