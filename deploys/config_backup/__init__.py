"""Config backup: a systemd timer archiving /etc/proxmox-backup.

Modules: :mod:`.steps` (the ``@deploy``).
"""
