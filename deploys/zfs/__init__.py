"""ZFS: pools from by-id disks and one dataset per datastore.

Modules: :mod:`.facts`, :mod:`.plan` (pure planning), :mod:`.operations`, :mod:`.steps`
(the ``@deploy``).
"""
