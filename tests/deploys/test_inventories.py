"""The shipped inventories load with pyinfra and pass the schema for every PBS node.

Loaded in a subprocess through pyinfra's own CLI loader (it monkey-patches gevent on import);
``inventories/vagrant.py`` is resolved through a stub ``vagrant`` binary that answers
``vagrant status --machine-readable`` and ``vagrant ssh-config`` like Vagrant 2.3 does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

LOADER = r"""
import json, sys
sys.path.insert(0, sys.argv[2])
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory
from deploys import schema
ctx_state.set(State())
schema.load_all()
inv = make_inventory(sys.argv[1], cwd=sys.argv[2])
out = {}
for h in inv:
    data = h.data.dict()
    out[h.name] = {"groups": sorted(h.groups), "problems": schema.problems(data),
                   "ssh": {k: v for k, v in data.items() if k.startswith("ssh_")},
                   "pools": data.get("zfs_pools", [])}
print(json.dumps(out, default=str))
"""

STUB_VAGRANT = """#!/bin/sh
if [ "$1" = status ]; then
  echo "1700000000,pbs1,state,running"
  echo "1700000000,pbs2,state,running"
  exit 0
fi
if [ "$1" = ssh-config ]; then
  port=2222; [ "$2" = pbs2 ] && port=2200
  printf 'Host %s\n  HostName 192.168.121.5\n  User vagrant\n  Port %s\n' "$2" "$port"
  printf '  IdentityFile /tmp/%s/private_key\n  StrictHostKeyChecking no\n' "$2"
  exit 0
fi
exit 1
"""


def load(inventory: str, tmp_path: Path) -> dict:
    stub = tmp_path / "bin"
    stub.mkdir(exist_ok=True)
    (stub / "vagrant").write_text(STUB_VAGRANT)
    (stub / "vagrant").chmod(0o755)
    env = {**os.environ, "PATH": f"{stub}:{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-c", LOADER, inventory, str(REPO)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_example_inventory_groups_and_data_are_valid(tmp_path):
    hosts = load("inventories/example.py", tmp_path)
    assert "pbs" in hosts["pbs1.example.net"]["groups"]
    assert "pbs_offsite" in hosts["pbs2.offsite.example.net"]["groups"]
    assert "pve" in hosts["pve1.example.net"]["groups"]
    assert "prometheus" in hosts["prometheus.example.net"]["groups"]
    for name in ("pbs1.example.net", "pbs2.offsite.example.net"):
        assert hosts[name]["problems"] == [], (name, hosts[name]["problems"])
    assert hosts["pbs1.example.net"]["pools"][0]["layout"] == "striped-mirror"


@pytest.fixture(scope="module")
def vagrant_hosts(tmp_path_factory):
    return load("inventories/vagrant.py", tmp_path_factory.mktemp("vagrant"))


@pytest.mark.parametrize("vm", ["pbs1", "pbs2"])
def test_vagrant_inventory_resolves_through_vagrant_and_validates(vagrant_hosts, vm):
    host = vagrant_hosts[f"@vagrant/{vm}"]
    assert host["problems"] == [], host["problems"]
    assert host["ssh"]["ssh_user"] == "vagrant" and host["ssh"]["ssh_hostname"] == "192.168.121.5"
    assert host["ssh"]["ssh_strict_host_key_checking"] == "off"
    disks = [d for p in host["pools"] for key in ("disks", "special") for d in p.get(key, [])]
    assert disks and all(d.startswith(f"/dev/disk/by-id/virtio-{vm}-") for d in disks)


def test_vagrantfile_defines_the_disks_the_inventory_uses():
    text = (REPO / "Vagrantfile").read_text()
    inventory = (REPO / "inventories" / "vagrant.py").read_text()
    for vm, disks in {"pbs1": ["data0", "data1", "special0", "special1"],
                      "pbs2": ["data0", "data1"]}.items():
        assert f'"{vm}" => {{' in text
        for disk in disks:
            assert f'"{disk}" =>' in text
            assert f'_disk("{vm}", "{disk}")' in inventory
    assert 'serial: "#{name}-#{disk}"' in text  # → /dev/disk/by-id/virtio-<vm>-<disk>
