"""The deploy on a real kernel: pool, datastore, firewall, sysctl, agent; then a no-op re-run."""

from __future__ import annotations

import json
import re
import socket
import ssl
from collections.abc import Iterator

import pytest

from deploys.sysctl.steps import DEFAULT_SYSCTL
from lab.sandbox.pyinfra_run import PyinfraResult
from lab.vm import Machine, Shell
from lab.vm.deploy import prepare_pbs, run_deploy
from tests.vm.records import RECORDS

pytestmark = pytest.mark.vm

BY_ID = "/dev/disk/by-id/virtio-"
POOL, STORE = "backup", "store1"
MOUNT = f"/mnt/datastore/{STORE}"
DENIED_NS = "pfdenied"
DENIED_HOST, DENIED_CLIENT = "10.99.0.1", "10.99.0.2"


@pytest.fixture(scope="module")
def runs(vm: Machine) -> Iterator[list[PyinfraResult]]:
    """The first run (converges) and the second (must change nothing)."""
    with vm.shell() as shell:
        prepare_pbs(shell)
    first = run_deploy(vm)
    yield [first] if first.returncode else [first, run_deploy(vm)]


def test_first_run_converges(runs: list[PyinfraResult]) -> None:
    first = runs[0].check()
    assert first.changed_ops and first.changed_ops > 0


def test_pool_topology(runs: list[PyinfraResult], guest: Shell) -> None:
    runs[0].check()
    assert guest.check(f"zpool get -H -o value ashift {POOL}").strip() == "12"
    assert guest.check(f"zpool list -H -o health {POOL}").strip() == "ONLINE"
    status = guest.check(f"zpool status -P {POOL}")
    data, _, special = status.partition("special")
    assert re.search(r"mirror-\d", data) and re.search(r"mirror-\d", special), status
    for serial in ("pfmirror0", "pfmirror1"):
        assert BY_ID + serial in data
    for serial in ("pfspecial0", "pfspecial1"):
        assert BY_ID + serial in special


def test_datastore_dataset_mounted_and_owned(runs: list[PyinfraResult], guest: Shell) -> None:
    runs[0].check()
    source, fstype = guest.check(f"findmnt -n -o SOURCE,FSTYPE {MOUNT}").split()
    assert (source, fstype) == (f"{POOL}/{STORE}", "zfs")
    assert guest.check(f"stat -c %U:%G {MOUNT}").strip() == "backup:backup"
    props = guest.check(f"zfs get -H -o property,value compression,atime {POOL}/{STORE}")
    assert dict(line.split("\t") for line in props.splitlines()) == {
        "compression": "lz4", "atime": "on"}


def test_nftables_loaded_by_its_service(runs: list[PyinfraResult], guest: Shell) -> None:
    runs[0].check()
    assert guest.check("systemctl is-enabled nftables").strip() == "enabled"
    assert guest.check("systemctl is-active nftables").strip() == "active"
    assert "chain input" in guest.check("nft list table inet pbs_fleet")


def _dropped(guest: Shell) -> int:
    doc = json.loads(guest.check("nft -j list chain inet pbs_fleet input"))
    for item in doc["nftables"]:
        rule = item.get("rule")
        if rule and rule.get("comment") == "dropped by policy":
            return next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    raise AssertionError("no 'dropped by policy' counter in table pbs_fleet")


@pytest.fixture
def denied_client(guest: Shell) -> Iterator[str]:
    """A network namespace in the guest on its own veth: a source not on any allow-list."""
    guest.check(f"ip netns add {DENIED_NS} && ip link add pfv0 type veth peer name pfv1 && "
                f"ip link set pfv1 netns {DENIED_NS} && "
                f"ip addr add {DENIED_HOST}/24 dev pfv0 && ip link set pfv0 up && "
                f"ip -n {DENIED_NS} addr add {DENIED_CLIENT}/24 dev pfv1 && "
                f"ip -n {DENIED_NS} link set pfv1 up && ip -n {DENIED_NS} link set lo up")
    yield DENIED_NS
    guest.run(f"ip netns del {DENIED_NS}; ip link del pfv0")


def _probe(guest: Shell, namespace: str, address: str, port: int) -> str:
    script = ("import socket,sys\ns=socket.socket();s.settimeout(4)\n"
              f"try:\n s.connect(('{address}',{port}));print('open')\n"
              "except TimeoutError:print('timeout')\n"
              "except OSError as e:print('error',e)")
    return guest.check(f"ip netns exec {namespace} python3 -c \"{script}\"").strip()


def test_8007_only_from_allowed_sources(runs: list[PyinfraResult], vm: Machine, guest: Shell,
                                        denied_client: str) -> None:
    runs[0].check()
    # Allowed: this machine through the forwarded port (the guest sees 10.0.2.2); the proxy
    # simulator (real openssl s_server) completes a TLS handshake.
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", vm.ports[8007]), timeout=30) as sock, \
            context.wrap_socket(sock) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # The denied side's link works (the reply to the guest's own ping is let in) …
    guest.check(f"ping -c1 -W3 {DENIED_CLIENT}")
    # … but its connection to 8007 is silently dropped by our table's policy.
    before = _dropped(guest)
    assert _probe(guest, denied_client, DENIED_HOST, 8007) == "timeout"
    assert _dropped(guest) > before


def test_sysctl_values_in_effect(runs: list[PyinfraResult], guest: Shell) -> None:
    runs[0].check()
    for key, want in DEFAULT_SYSCTL.items():
        got = " ".join(guest.check(f"sysctl -n {key}").split())
        assert got == str(want), key


def test_agent_unit_active_and_sandboxed(runs: list[PyinfraResult], guest: Shell) -> None:
    runs[0].check()
    assert guest.run("systemctl is-active pbs-agent").stdout.strip() == "active"
    pid = guest.check("systemctl show -p MainPID --value pbs-agent").strip()
    status = guest.check(f"cat /proc/{pid}/status")
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    assert re.search(r"^CapBnd:\s+0+$", status, re.M)
    mounts = guest.check(f"cat /proc/{pid}/mountinfo")
    assert any(line.split()[4] == MOUNT and " ro," in f" {line.split()[5]}," for line in
               mounts.splitlines()), "datastore not read-only inside the unit"
    exposure = guest.check("systemd-analyze security --no-pager pbs-agent.service")
    score = re.search(r"Overall exposure level for pbs-agent.service: ([\d.]+)", exposure)
    assert score, exposure[-500:]
    RECORDS["systemd-analyze security pbs-agent.service"] = float(score.group(1))


def test_second_run_changes_nothing(runs: list[PyinfraResult]) -> None:
    runs[0].check()
    second = runs[1].check()
    assert second.changed_ops == 0, second.changed
