"""The PVE side of the hand-off: PBS storages on Proxmox VE nodes (``pvesm``)."""
