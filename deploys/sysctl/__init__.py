"""Sysctl: kernel parameters in a drop-in and live, and the ZFS ARC limit.

Modules: :mod:`.facts`, :mod:`.operations`, :mod:`.steps` (the ``@deploy``).
"""
