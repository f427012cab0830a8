"""Example site: two PBS nodes (one off-site), the PVE cluster they back up, Prometheus.

    pyinfra inventories/example.py deploys/pbs_host.py          # PBS nodes only
    pyinfra inventories/example.py deploys/harden.py --limit pve
    pyinfra inventories/example.py deploys/pve_link.py          # PBS → PVE hand-off

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
        # PBS configuration (docs/pbs-config.md): retention as prune jobs, weekly verify.
        "pbs_datastores": {"store1": {
            "gc_schedule": "daily",
            "notify": {"gc": "error", "verify": "error", "sync": "error", "prune": "error"},
            "tuning": {"chunk-order": "inode", "sync-level": "filesystem"},
            "prune": {"schedule": "daily", "keep_daily": 7, "keep_weekly": 4,
                      "keep_monthly": 6},
            "verify": {"schedule": "sat 03:00", "outdated_after": 30},
        }},
        # DatastoreAdmin only where the inventory says so:
        "pbs_users": {"ops@pbs": {"comment": "storage team", "roles": [
            {"path": "/datastore/store1", "role": "DatastoreAdmin"}]}},
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
        "pbs_datastores": {"replica": {"prune": {"keep_daily": 14, "keep_weekly": 8,
                                                 "keep_monthly": 12}}},
        # Pull store1 from pbs1; the remote pins pbs1's certificate fingerprint.
        "pbs_sync_jobs": [{"remote": "pbs1.example.net", "remote_store": "store1",
                           "store": "replica", "schedule": "hourly", "rate_in": "200MiB",
                           "remove_vanished": False}],
    }),
]

# One PBS user+token per PVE cluster, DatastoreBackup on its namespace only.
_pve_storage = {"pve_cluster": "cluster-a",
                "pve_pbs_storages": [{"pbs": "pbs1.example.net", "datastore": "store1",
                                      "encryption": False}]}
pve = [(name, _pve_storage) for name in
       ("pve1.example.net", "pve2.example.net", "pve3.example.net")]

prometheus = ["prometheus.example.net"]
