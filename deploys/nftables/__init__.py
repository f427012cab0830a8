"""nftables: the pbs_fleet table, refused if it would cut the deploy's own SSH session.

Modules: :mod:`.facts`, :mod:`.operations`, :mod:`.steps` (the ``@deploy``).
"""
