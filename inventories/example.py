"""Example site: two PBS nodes (one off-site), the PVE cluster they back up, Prometheus.

    pyinfra inventories/example.py deploys/pbs_host.py          # PBS nodes only
    pyinfra inventories/example.py deploys/harden.py --limit pve

Defaults for every setting are in group_data/all.py and group_data/pbs*.py; every key is
documented in docs/deploy.md. Only hosts in `pbs` or `pbs_offsite` become PBS nodes.
"""

pbs = [
    ("pbs1.example.net", {
        "zfs_pools": [{
            "name": "tank",
            "layout": "striped-mirror",
            "disks": [
                "/dev/disk/by-id/ata-HGST_HUH721212ALE604_AAAA0001",
                "/dev/disk/by-id/ata-HGST_HUH721212ALE604_AAAA0002",
                "/dev/disk/by-id/ata-HGST_HUH721212ALE604_AAAA0003",
                "/dev/disk/by-id/ata-HGST_HUH721212ALE604_AAAA0004",
            ],
            "special": [
                "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S000000000001",
                "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S000000000002",
            ],
            "special_small_blocks": "16K",
            "datastores": ["store1"],
        }],
    }),
]

pbs_offsite = [
    ("pbs2.offsite.example.net", {
        "zfs_pools": [{
            "name": "offsite",
            "layout": "raidz2",
            "disks": [f"/dev/disk/by-id/ata-ST16000NM001G_ZL2000{i:02d}" for i in range(6)],
            "datastores": ["replica"],
        }],
    }),
]

pve = ["pve1.example.net", "pve2.example.net", "pve3.example.net"]

prometheus = ["prometheus.example.net"]
