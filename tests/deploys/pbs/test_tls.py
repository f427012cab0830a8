"""TLS 1.3-only on 8007, proven with REAL OpenSSL on both ends.

The server is ``lab/simulators/proxmox-backup-proxy``: ``openssl s_server`` configured like
PBS's acceptor (Mozilla intermediate v5 option bits and lists, then the node's cipher settings
written by the proxmox-backup-manager simulator from the deploy's own command lines).
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploys.pbs import commands, tls
from lab.simulators import DIRECTORY as SIMULATORS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def node_root(sim_root: Path, pbm) -> Path:
    assert pbm("cert", "update").returncode == 0
    return sim_root


def apply_policy(pbm, policy: str) -> None:
    """What the deploy does: node update with the policy's ciphers (via the PBS simulator)."""
    sets, deletes = tls.node_changes(policy, {})
    if sets or deletes:
        argv = commands.node_update(sets, deletes if sets else [])
        proc = pbm(*shlex.split(commands.shell_line(argv))[1:])
        assert proc.returncode == 0, proc.stderr


@pytest.fixture
def serve(node_root: Path) -> Iterator:
    procs: list[subprocess.Popen] = []

    def start(openssl_conf: Path | None = None) -> int:
        port = free_port()
        env = {**os.environ, "PBS_SIMULATOR_ROOT": str(node_root)}
        env.pop("OPENSSL_CONF", None)
        if openssl_conf is not None:
            env["OPENSSL_CONF"] = str(openssl_conf)
        proc = subprocess.Popen([str(SIMULATORS / "proxmox-backup-proxy"), "--port", str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return port
            time.sleep(0.05)
        raise AssertionError(f"proxy simulator did not listen: {proc.stderr.read()!r}")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def s_client(port: int, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENSSL_CONF"}
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *flags],
                          input="", capture_output=True, text=True, timeout=20, env=env)


def probe(port: int) -> dict:
    proc = subprocess.run(["sh", "-c", tls.probe_command(port)], capture_output=True, text=True,
                          timeout=60)
    return tls.parse_probe(proc.stdout.splitlines())


def test_pbs_default_accepts_tls12_and_tls13(serve, pbm) -> None:
    apply_policy(pbm, "default")
    port = serve()
    assert s_client(port, "-tls1_2").returncode == 0
    seen = probe(port)
    assert seen["policy_seen"] == "TLS 1.2 + 1.3"
    assert tls.satisfies("default", seen)


def test_tls13_policy_refuses_tls12_and_accepts_tls13(serve, pbm) -> None:
    apply_policy(pbm, "tls13")
    port = serve()
    old = s_client(port, "-tls1_2")
    assert old.returncode != 0
    assert "handshake failure" in old.stderr + old.stdout
    new = s_client(port, "-tls1_3")
    assert new.returncode == 0, new.stderr
    assert "TLSv1.3" in new.stdout
    seen = probe(port)
    assert seen == {**seen, "tls1_2": False, "tls1_3": True, "protocol": "TLSv1.3"}
    assert seen["cipher"] in tls.STRONG_TLS13.split(":")
    assert tls.satisfies("tls13", seen)


def test_tls13_policy_refuses_a_client_that_offers_psk_suites(serve, pbm) -> None:
    """The unnegotiable list stays unnegotiable even for a client that speaks PSK."""
    apply_policy(pbm, "tls13")
    port = serve()
    attempt = s_client(port, "-tls1_2", "-cipher", tls.UNNEGOTIABLE_TLS12,
                       "-psk", "00112233445566778899aabbccddeeff", "-psk_identity", "x")
    assert attempt.returncode != 0


def test_tls11_is_refused_under_every_policy(serve, pbm) -> None:
    for policy in ("default", "modern", "tls13"):
        apply_policy(pbm, policy)
        port = serve()
        assert s_client(port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0").returncode != 0, policy


def test_modern_policy_keeps_tls12_with_ecdhe_aead_only(serve, pbm) -> None:
    apply_policy(pbm, "modern")
    port = serve()
    ok = s_client(port, "-tls1_2")
    assert ok.returncode == 0
    assert "ECDHE-RSA-AES256-GCM-SHA384" in ok.stdout
    for weak in ("DHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA", "AES256-SHA"):
        assert s_client(port, "-tls1_2", "-cipher", weak).returncode != 0, weak
    assert tls.satisfies("modern", probe(port))


def test_openssl_conf_min_protocol_is_not_undone_by_the_mozilla_option_bits(
        serve, pbm, tmp_path: Path) -> None:
    """Second mechanism: with PBS's default ciphers, the OPENSSL_CONF drop-in alone refuses
    TLS 1.2 with a protocol_version alert; TLS 1.3 still works."""
    apply_policy(pbm, "default")
    conf = tmp_path / "pbs-fleet-openssl.cnf"
    conf.write_text(tls.openssl_conf_text())
    port = serve(openssl_conf=conf)
    old = s_client(port, "-tls1_2")
    assert old.returncode != 0
    assert "protocol version" in old.stderr + old.stdout
    assert s_client(port, "-tls1_3").returncode == 0


def test_node_changes_are_minimal_and_idempotent() -> None:
    sets, deletes = tls.node_changes("tls13", {})
    assert deletes == []
    assert sets == {"ciphers-tls-1.2": tls.UNNEGOTIABLE_TLS12,
                    "ciphers-tls-1.3": tls.STRONG_TLS13}
    assert tls.node_changes("tls13", sets) == ({}, [])
    assert tls.node_changes("default", sets) == ({}, ["ciphers-tls-1.2", "ciphers-tls-1.3"])
    with pytest.raises(ValueError, match="unknown TLS policy 'tls10'"):
        tls.node_changes("tls10", {})


def test_probe_parser_reports_unreachable() -> None:
    seen = tls.parse_probe([f"{tls.PROBE_MARK} tls1_2 refused - -",
                            f"{tls.PROBE_MARK} tls1_3 refused - -"])
    assert seen["policy_seen"] == "unreachable"
    assert not tls.satisfies("tls13", seen)


def test_proxy_simulator_starts_from_the_mozilla_intermediate_v5_lists(node_root: Path) -> None:
    """With an empty node.cfg the simulated acceptor uses rust-openssl's v5 lists and option
    bits; the node's settings replace the lists (what PBS's make_tls_acceptor does)."""
    env = {**os.environ, "PBS_SIMULATOR_ROOT": str(node_root)}
    argv = subprocess.run([str(SIMULATORS / "proxmox-backup-proxy"), "--print-command"],
                          env=env, capture_output=True, text=True, check=True).stdout.split()
    assert argv[argv.index("-cipher") + 1] == tls.MOZILLA_TLS12
    assert argv[argv.index("-ciphersuites") + 1] == tls.MOZILLA_TLS13
    assert "-no_tls1" in argv and "-no_tls1_1" in argv and "-min_protocol" not in argv
