"""Inventory of the real-kernel test VM (tests/vm, or ``scripts/vm.py start`` by hand).

The VM is QEMU on this machine: SSH on a forwarded 127.0.0.1 port as
``$PBS_FLEET_VM_USER`` (``root``, the default, or ``deploy`` with sudo), eight blank virtio
disks named ``/dev/disk/by-id/virtio-pf*``. Connection details come
from ``connection.json`` in the VM's run directory (``$PBS_FLEET_VM_RUN``, default the manual
VM's ``$PBS_FLEET_STATE/vm/manual``). ``$PBS_FLEET_VM_DATA`` may name a JSON file whose keys
replace the data below (the tests use it for the safety scenarios).

The Proxmox keyring cannot be fetched from enterprise.proxmox.com here: with
``$PBS_FLEET_VM_KEYRING_URL`` set, the TEST-ONLY keyring of lab/fixtures is fetched
from there instead (the guest reaches this machine's 127.0.0.1 as 10.0.2.2)::

    .venv/bin/python scripts/vm.py start
    python3 -m http.server -b 127.0.0.1 8099 -d lab/fixtures &
    PBS_FLEET_VM_KEYRING_URL=http://10.0.2.2:8099/proxmox-release-TEST-ONLY.gpg \
        .venv/bin/pyinfra inventories/vm.py deploys/pbs_host.py
"""

import hashlib
import json
import os
from pathlib import Path

_STATE = Path(os.environ.get("PBS_FLEET_STATE", "/var/lib/pbs-fleet"))
_RUN = Path(os.environ.get("PBS_FLEET_VM_RUN", str(_STATE / "vm" / "manual")))
_CONNECTION = json.loads((_RUN / "connection.json").read_text())
_DISK = "/dev/disk/by-id/virtio-"
# The guest sees connections forwarded from this machine as coming from QEMU's gateway.
_THIS_MACHINE = "10.0.2.2/32"

# root by key (PermitRootLogin prohibit-password), or ``deploy`` with passwordless sudo.
_USER = os.environ.get("PBS_FLEET_VM_USER", "root")

_DATA = {
    "ssh_hostname": _CONNECTION["ssh_hostname"],
    "ssh_port": _CONNECTION["ssh_port"],
    "ssh_user": _USER,
    "ssh_key": _CONNECTION["ssh_key"],
    "ssh_strict_host_key_checking": "no",
    "ssh_known_hosts_file": "/dev/null",
    "_sudo": _USER != "root",
    # 2 GiB of RAM is all a TCG guest gets: the one refusal this host earns, overridden.
    "preflight_override": ["ram"],
    # zfs.ko is prebuilt in the image for its kernel; the Proxmox repository is unreachable,
    # so the PBS simulator (lab/simulators) stands in for proxmox-backup-server.
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
if os.environ.get("PBS_FLEET_VM_KEYRING_URL"):
    _KEYRING = Path(__file__).resolve().parent.parent / "lab/fixtures"
    _DATA["apt_proxmox_keyring_url"] = os.environ["PBS_FLEET_VM_KEYRING_URL"]
    _DATA["apt_proxmox_keyring_sha512"] = hashlib.sha512(
        (_KEYRING / "proxmox-release-TEST-ONLY.gpg").read_bytes()).hexdigest()
if os.environ.get("PBS_FLEET_VM_DATA"):
    _DATA.update(json.loads(Path(os.environ["PBS_FLEET_VM_DATA"]).read_text()))

pbs = [("pbs-vm", _DATA)]
