"""Hardware below a datastore: mounts, block devices, ZFS pools, SMART, hwmon and IPMI readers."""
