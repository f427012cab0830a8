"""The Vagrant lab (see Vagrantfile and README "Vagrant").

    vagrant up --provider=libvirt
    .venv/bin/pyinfra inventories/vagrant.py deploys/pbs_host.py

pyinfra's ``@vagrant`` connector asks ``vagrant ssh-config`` for each running VM. Debian boxes
log in as ``vagrant`` with passwordless sudo, so every operation runs with ``_sudo``.
Defaults for all settings come from group_data/ (all.py, pbs.py, pbs_offsite.py); the
network values below replace the example site's.
"""

_LAB = {
    "_sudo": True,
    # Rebuilt boxes get new host keys: do not pin them in ~/.ssh/known_hosts.
    "ssh_strict_host_key_checking": "off",
    "ssh_known_hosts_file": "/dev/null",
    # vagrant-libvirt's management network (the controller's SSH comes from .1) and the
    # private network of the Vagrantfile.
    "firewall_management_networks": ["192.168.121.0/24", "192.168.56.0/24"],
    "firewall_backup_networks": ["192.168.56.0/24"],
    "firewall_prometheus_networks": ["192.168.56.1/32"],
    # Virtual NICs report no link speed and VMs have no EDAC: warnings only, no overrides.
}


def _disk(vm: str, name: str) -> str:
    return f"/dev/disk/by-id/virtio-{vm}-{name}"


pbs = [
    ("@vagrant/pbs1", {
        **_LAB,
        "zfs_pools": [{
            "name": "tank",
            "layout": "mirror",
            "disks": [_disk("pbs1", "data0"), _disk("pbs1", "data1")],
            "special": [_disk("pbs1", "special0"), _disk("pbs1", "special1")],
            "special_small_blocks": "16K",
            "datastores": ["store1"],
        }],
    }),
]

pbs_offsite = [
    ("@vagrant/pbs2", {
        **_LAB,
        "zfs_pools": [{
            "name": "offsite",
            "layout": "mirror",
            "disks": [_disk("pbs2", "data0"), _disk("pbs2", "data1")],
            "datastores": ["replica"],
        }],
    }),
]
