"""Real-kernel test tier: a Debian 12 VM with ZFS booted in QEMU (marker ``vm``)."""
