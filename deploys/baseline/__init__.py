"""Baseline: what a security audit (Lynis, CIS-style) expects of any Debian server, minus what a
PBS node must keep (USB storage for removable datastores). docs/hardening.md says which audit
finding each setting answers and which findings stay open, with the reason.

Modules: :mod:`.steps` (the ``@deploy``).
"""
