"""Apt: the pinned Proxmox keyring, deb822 sources and the node's packages.

Modules: :mod:`.facts`, :mod:`.operations`, :mod:`.steps` (the ``@deploy``).
"""
