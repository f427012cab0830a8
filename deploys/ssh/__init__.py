"""SSH: the sshd hardening drop-in, checked with ``sshd -t`` and refused on lockout.

Modules: :mod:`.operations`, :mod:`.steps` (the ``@deploy``).
"""
