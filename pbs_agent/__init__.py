"""pbs_agent: read-only insight into Proxmox Backup Server datastores for Prometheus."""

__version__ = "0.1.0"
