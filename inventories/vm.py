"""Inventory of the real-kernel test VM (tests/vm, or ``scripts/vm.py start`` by hand).

The VM is QEMU on this machine: SSH on a forwarded 127.0.0.1 port as user ``deploy`` with
sudo, eight blank virtio disks named ``/dev/disk/by-id/virtio-pf*``. Connection details come
from ``connection.json`` in the VM's run directory (``$PBS_FLEET_VM_RUN``, default the manual
VM's ``$PBS_FLEET_STATE/vm/manual``). ``$PBS_FLEET_VM_DATA`` may name a JSON file whose keys
replace the data below (the tests use it for the safety scenarios).

    .venv/bin/python scripts/vm.py start
    .venv/bin/pyinfra inventories/vm.py deploys/pbs_host.py
"""

import json
import os
from pathlib import Path

_STATE = Path(os.environ.get("PBS_FLEET_STATE", "/var/lib/pbs-fleet"))
_RUN = Path(os.environ.get("PBS_FLEET_VM_RUN", str(_STATE / "vm" / "manual")))
_CONNECTION = json.loads((_RUN / "connection.json").read_text())
_DISK = "/dev/disk/by-id/virtio-"
# The guest sees connections forwarded from this machine as coming from QEMU's gateway.
_THIS_MACHINE = "10.0.2.2/32"

_DATA = {
    "ssh_hostname": _CONNECTION["ssh_hostname"],
    "ssh_port": _CONNECTION["ssh_port"],
    "ssh_user": "deploy",
    "ssh_key": _CONNECTION["ssh_key"],
    "ssh_strict_host_key_checking": "no",
    "ssh_known_hosts_file": "/dev/null",
    "_sudo": True,
    # 2 GiB of RAM is all a TCG guest gets: the one refusal this host earns, overridden.
    "preflight_override": ["ram"],
    # zfs.ko is prebuilt in the image for its kernel; the Proxmox repository is unreachable,
    # so the PBS simulator (tests/simulators) stands in for proxmox-backup-server.
    "zfs_module": "present",
    "test_only_skip_packages": ["proxmox-backup-server"],
    "test_only_proxmox_sources_inactive": True,
    "zfs_pools": [{
        "name": "backup",
        "layout": "mirror",
        "disks": [_DISK + "pfmirror0", _DISK + "pfmirror1"],
        "special": [_DISK + "pfspecial0", _DISK + "pfspecial1"],
        "special_small_blocks": "16K",
        "ashift": 12,
        "datastores": ["store1"],
    }],
    "firewall_management_networks": [_THIS_MACHINE],
    "firewall_backup_networks": [_THIS_MACHINE],
    "firewall_prometheus_networks": [_THIS_MACHINE],
}
if os.environ.get("PBS_FLEET_VM_DATA"):
    _DATA.update(json.loads(Path(os.environ["PBS_FLEET_VM_DATA"]).read_text()))

pbs = [("pbs-vm", _DATA)]
